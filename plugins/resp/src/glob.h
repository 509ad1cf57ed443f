// Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): * any run, ? any one
// byte, [abc] [^abc] [a-z] a class, \x the byte x. Pure.
#pragma once

#include <string_view>

namespace dendrite::resp {

// True when all of `text` matches `pattern`; `nocase` folds ASCII case.
bool glob_match(std::string_view pattern, std::string_view text, bool nocase = false);

}  // namespace dendrite::resp
