// Encodes replies in the protocol version a connection chose: RESP2 (the
// default) or RESP3 (after HELLO 3), where nulls, maps, sets and doubles have
// types of their own. Appends to a caller-owned string; no I/O. Value type, one
// per reply being built; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dendrite::resp {

class ReplyWriter {
 public:
  // Appends to `out`; `resp3` picks the encoding of nulls, maps, sets, doubles.
  ReplyWriter(std::string& out, bool resp3) : out_(&out), resp3_(resp3) {}

  bool resp3() const { return resp3_; }
  // Switches the encoding for what is written next (HELLO answers in the
  // version it picked).
  void set_resp3(bool resp3) { resp3_ = resp3; }

  // "+OK": a short status without CR or LF (they are replaced by spaces).
  void simple(std::string_view text);
  // "-ERR ...": `text` starts with its error code (ERR, WRONGTYPE, NOAUTH, ...);
  // CR and LF are replaced by spaces.
  void error(std::string_view text);
  void integer(std::int64_t n);
  void bulk(std::string_view bytes);
  // The null bulk string (RESP2 "$-1", RESP3 "_").
  void null();
  // The null array (RESP2 "*-1", RESP3 "_").
  void null_array();
  // An array of `n` elements; the caller writes them next.
  void array(std::size_t n);
  // A map of `n` key/value pairs (RESP2: an array of 2n).
  void map(std::size_t n);
  // A set of `n` elements (RESP2: an array).
  void set(std::size_t n);
  // A double (RESP2: a bulk string), written the way Redis prints it.
  void real(long double value);
  // Text a human reads, e.g. INFO (RESP3: a verbatim string "txt").
  void verbatim(std::string_view text);

 private:
  void header(char sigil, std::int64_t n);
  void line(char sigil, std::string_view text);

  std::string* out_;
  bool resp3_;
};

// `value` as Redis prints INCRBYFLOAT results: fixed notation with 17
// decimals, trailing zeros (and a trailing dot) removed ("10.6", "3");
// "inf"/"-inf" for infinities.
std::string format_real(long double value);

}  // namespace dendrite::resp
