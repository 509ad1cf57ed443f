// Splits the bytes a Redis client sends into commands: RESP multibulk arrays
// ("*2\r\n$3\r\nGET\r\n$1\r\nx\r\n") and inline commands ("GET x\r\n", the
// way a human types into telnet), with the limits Redis applies. No I/O and no
// state besides the limits: the caller keeps the unconsumed bytes and calls
// again when more arrive. Pure and fuzzed (tests/fuzz/fuzz_resp.cc).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dendrite::resp {

// Bounds on one request (Redis's names in brackets).
struct ParserLimits {
  std::size_t max_bulk_bytes = 512u << 20;   // one argument [proto-max-bulk-len]
  std::size_t max_args = 1u << 20;           // arguments of one multibulk command
  std::size_t max_inline_bytes = 64u << 10;  // one inline command line
};

// The outcome of one parse() call.
struct Parsed {
  enum class Kind {
    kNeedMore,  // no whole command at the front yet: keep the bytes, read more
    kCommand,   // `args` holds one command (possibly none: an empty line)
    kError,     // the stream is broken: reply `error`, then close the connection
  };
  Kind kind = Kind::kNeedMore;
  std::size_t consumed = 0;  // bytes of the input the command (or skip) took
  std::vector<std::string> args;
  std::string error;  // kError: the reply text, "Protocol error: ..." (no "-ERR ")
};

// Where parse_request() stopped inside a multibulk command that has not fully
// arrived, so that the next call resumes there instead of reading every
// argument header again (a command of a million arguments arriving in small
// pieces would otherwise cost quadratic time). One per connection, owned by
// the caller; parse_request() resets it after each whole command or error.
struct ParseProgress {
  long long count = 0;  // arguments of the command begun (0: none begun)
  std::size_t pos = 0;  // offset in `in` of the next argument's header
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // arguments read: offset, size
};

// Parses the first command at the front of `in`. kCommand with empty args is
// an empty inline line (skip it). A bulk length beyond the limit, a malformed
// header or an unbalanced quote is kError; so is an inline line longer than
// the limit even before its end arrived. Never reads past `in`; a partial
// bulk is not copied. With `progress`, a call after kNeedMore resumes where
// the previous one stopped: `in` must then start at the same byte and hold at
// least the bytes it held before (more may have been appended).
Parsed parse_request(std::string_view in, const ParserLimits& limits,
                     ParseProgress* progress = nullptr);

// Splits an inline command line the way redis-cli and Redis do: spaces
// separate words; "double quotes" understand \n \r \t \b \a \\ \" and \xHH;
// 'single quotes' only \'. False on an unbalanced quote or a closing quote not
// followed by a space.
bool split_inline(std::string_view line, std::vector<std::string>& words);

}  // namespace dendrite::resp
