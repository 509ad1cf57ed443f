#include "cli.h"

#include <iostream>
#include <string_view>

namespace dendrite::cli {

int exit_code(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kConsistencyNotMet:
      return kExitConsistency;
    default:
      return kExitUnreachable;
  }
}

int fail(const std::string& command, const Status& s) {
  // "<code name>: <message>", without saying the code name twice when the
  // message already starts with it ("consistency not met: ...").
  const std::string_view name = status_code_name(s.code());
  const bool named = s.message().compare(0, name.size(), name) == 0;
  std::cerr << "dendrite-cli: " << command << ": " << (named ? s.message() : s.to_string()) << "\n";
  return exit_code(s);
}

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << "dendrite-cli: " << command << ": " << message << "\n";
  return kExitUsage;
}

}  // namespace dendrite::cli
