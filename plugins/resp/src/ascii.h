// ASCII case folding, as Redis compares command names, options and NOCASE
// patterns: only 'A'..'Z' change; other bytes (UTF-8 included) stay as they
// are, whatever the process's locale.
#pragma once

#include <string>
#include <string_view>

namespace dendrite::resp {

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace dendrite::resp
