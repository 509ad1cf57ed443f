#include "glob.h"

#include "ascii.h"

namespace dendrite::resp {
namespace {

char fold(char c, bool nocase) {
  return nocase ? ascii_lower(c) : c;
}

// Matches the class starting after '[' at pattern[p]; sets `end` to the index
// after its ']' (or the pattern's end when unclosed, as Redis reads it).
bool class_match(std::string_view pattern, std::size_t p, char c, bool nocase, std::size_t& end) {
  bool negate = false, hit = false;
  if (p < pattern.size() && pattern[p] == '^') {
    negate = true;
    ++p;
  }
  while (p < pattern.size() && pattern[p] != ']') {
    if (pattern[p] == '\\' && p + 1 < pattern.size()) {
      if (fold(pattern[p + 1], nocase) == fold(c, nocase)) hit = true;
      p += 2;
    } else if (p + 2 < pattern.size() && pattern[p + 1] == '-' && pattern[p + 2] != ']') {
      char lo = fold(pattern[p], nocase), hi = fold(pattern[p + 2], nocase);
      if (lo > hi) std::swap(lo, hi);
      const char x = fold(c, nocase);
      if (x >= lo && x <= hi) hit = true;
      p += 3;
    } else {
      if (fold(pattern[p], nocase) == fold(c, nocase)) hit = true;
      ++p;
    }
  }
  end = p < pattern.size() ? p + 1 : p;
  return negate ? !hit : hit;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool nocase) {
  // Iterative matching with one backtrack point for the last '*': linear in
  // practice and never recursive, whatever the pattern.
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        while (p < pattern.size() && pattern[p] == '*') ++p;
        if (p == pattern.size()) return true;
        star = p;
        star_t = t;
        continue;
      }
      std::size_t next = p + 1;
      bool ok;
      if (pc == '?') {
        ok = true;
      } else if (pc == '[') {
        ok = class_match(pattern, p + 1, text[t], nocase, next);
      } else if (pc == '\\' && p + 1 < pattern.size()) {
        ok = fold(pattern[p + 1], nocase) == fold(text[t], nocase);
        next = p + 2;
      } else {
        ok = fold(pc, nocase) == fold(text[t], nocase);
      }
      if (ok) {
        p = next;
        ++t;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    p = star;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace dendrite::resp
