#include "key_commands.h"

#include <iostream>

#include "dendrite/wire/curve_keys.h"

namespace dendrite::cli {

int run_keygen(const std::string& dir) {
  auto pair = wire::generate_curve_key_pair();
  if (!pair.ok()) return usage_error("keygen", pair.status().message());
  if (Status s = wire::write_curve_key_pair(dir, *pair); !s.ok()) {
    return usage_error("keygen", s.message());
  }
  std::cout << pair->public_key << "\n" << std::flush;
  return kExitOk;
}

}  // namespace dendrite::cli
