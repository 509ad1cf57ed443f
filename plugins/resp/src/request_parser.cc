#include "request_parser.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace dendrite::resp {
namespace {

// A header line ("*3", "$5") longer than this without its CRLF is broken.
constexpr std::size_t kMaxHeaderBytes = 64u << 10;

Parsed error(std::string text) {
  Parsed p;
  p.kind = Parsed::Kind::kError;
  p.error = std::move(text);
  return p;
}

// The decimal number of `digits` (an optional '-' then digits only), or false.
bool parse_number(std::string_view digits, long long& out) {
  if (digits.empty()) return false;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, out);
  return ec == std::errc() && ptr == end;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

Parsed parse_inline(std::string_view in, const ParserLimits& limits) {
  const std::size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (in.size() > limits.max_inline_bytes) return error("Protocol error: too big inline request");
    return {};
  }
  if (nl > limits.max_inline_bytes) return error("Protocol error: too big inline request");
  std::string_view line = in.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  Parsed p;
  if (!split_inline(line, p.args)) return error("Protocol error: unbalanced quotes in request");
  p.kind = Parsed::Kind::kCommand;
  p.consumed = nl + 1;
  return p;
}

// The header line at in[pos] starting with `sigil` ("*3\r\n"): its number and
// where the next line starts. kNeedMore / kError in `status` otherwise.
struct Header {
  Parsed::Kind status = Parsed::Kind::kNeedMore;
  long long value = 0;
  std::size_t next = 0;
};

Header read_header(std::string_view in, std::size_t pos) {
  Header h;
  const std::size_t cr = in.find('\r', pos);
  if (cr == std::string_view::npos || cr + 1 >= in.size()) {
    if (in.size() - pos > kMaxHeaderBytes) h.status = Parsed::Kind::kError;
    return h;
  }
  if (in[cr + 1] != '\n' || !parse_number(in.substr(pos + 1, cr - pos - 1), h.value)) {
    h.status = Parsed::Kind::kError;
    return h;
  }
  h.status = Parsed::Kind::kCommand;
  h.next = cr + 2;
  return h;
}

Parsed parse_multibulk(std::string_view in, const ParserLimits& limits, ParseProgress& progress) {
  long long count = progress.count;
  std::size_t pos = progress.pos;
  std::vector<std::pair<std::size_t, std::size_t>> spans = std::move(progress.spans);
  progress = ParseProgress{};
  if (count == 0) {
    Header header = read_header(in, 0);
    if (header.status == Parsed::Kind::kNeedMore) return {};
    if (header.status == Parsed::Kind::kError || header.value > static_cast<long long>(INT32_MAX)) {
      return error("Protocol error: invalid multibulk length");
    }
    if (header.value <= 0) {  // "*0" and "*-1": nothing to run
      Parsed p;
      p.kind = Parsed::Kind::kCommand;
      p.consumed = header.next;
      return p;
    }
    if (static_cast<unsigned long long>(header.value) > limits.max_args) {
      return error("Protocol error: invalid multibulk length");
    }
    count = header.value;
    pos = header.next;
    spans.reserve(static_cast<std::size_t>(std::min<long long>(count, 1024)));
  }
  // Whatever is missing, keep what was read for the next call.
  const auto need_more = [&] {
    progress.count = count;
    progress.pos = pos;
    progress.spans = std::move(spans);
    return Parsed{};
  };
  // Check every header before copying anything: a partial command costs no copy.
  while (static_cast<long long>(spans.size()) < count) {
    if (pos >= in.size()) return need_more();
    if (in[pos] != '$') {
      return error(std::string("Protocol error: expected '$', got '") + in[pos] + "'");
    }
    Header len = read_header(in, pos);
    if (len.status == Parsed::Kind::kNeedMore) return need_more();
    if (len.status == Parsed::Kind::kError || len.value < 0 ||
        static_cast<unsigned long long>(len.value) > limits.max_bulk_bytes) {
      return error("Protocol error: invalid bulk length");
    }
    const auto bytes = static_cast<std::size_t>(len.value);
    if (in.size() - len.next < bytes + 2) return need_more();
    if (in[len.next + bytes] != '\r' || in[len.next + bytes + 1] != '\n') {
      return error("Protocol error: bulk string not terminated by CRLF");
    }
    spans.emplace_back(len.next, bytes);
    pos = len.next + bytes + 2;
  }
  Parsed p;
  p.args.reserve(spans.size());
  for (const auto& [at, bytes] : spans) p.args.emplace_back(in.substr(at, bytes));
  p.kind = Parsed::Kind::kCommand;
  p.consumed = pos;
  return p;
}

}  // namespace

Parsed parse_request(std::string_view in, const ParserLimits& limits, ParseProgress* progress) {
  ParseProgress local;
  ParseProgress& state = progress != nullptr ? *progress : local;
  if (in.empty()) {
    state = ParseProgress{};
    return {};
  }
  if (in.front() == '*') return parse_multibulk(in, limits, state);
  state = ParseProgress{};
  return parse_inline(in, limits);
}

bool split_inline(std::string_view line, std::vector<std::string>& words) {
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (true) {
    while (i < n && is_space(line[i])) ++i;
    if (i >= n) return true;
    std::string word;
    bool in_double = false, in_single = false;
    while (true) {
      if (in_double) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          word.push_back(static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 4;
        } else if (line[i] == '\\' && i + 1 < n) {
          char c = line[i + 1];
          switch (c) {
            case 'n':
              c = '\n';
              break;
            case 'r':
              c = '\r';
              break;
            case 't':
              c = '\t';
              break;
            case 'b':
              c = '\b';
              break;
            case 'a':
              c = '\a';
              break;
            default:
              break;
          }
          word.push_back(c);
          i += 2;
        } else if (line[i] == '"') {
          ++i;
          if (i < n && !is_space(line[i])) return false;
          in_double = false;
          break;
        } else {
          word.push_back(line[i++]);
        }
      } else if (in_single) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
          word.push_back('\'');
          i += 2;
        } else if (line[i] == '\'') {
          ++i;
          if (i < n && !is_space(line[i])) return false;
          in_single = false;
          break;
        } else {
          word.push_back(line[i++]);
        }
      } else {
        if (i >= n || is_space(line[i])) break;
        if (line[i] == '"') {
          in_double = true;
        } else if (line[i] == '\'') {
          in_single = true;
        } else {
          word.push_back(line[i]);
        }
        ++i;
      }
    }
    words.push_back(std::move(word));
  }
}

}  // namespace dendrite::resp
