#include "host/allocator.h"

#include <dlfcn.h>

namespace dendrite::host {

std::string allocator_name() {
  // mimalloc's version function (major * 100 + minor * 10 + patch), looked up
  // at run time so that the host library also works (and says "system") in
  // programs that do not link mimalloc.
  using Version = int (*)();
  auto version = reinterpret_cast<Version>(::dlsym(RTLD_DEFAULT, "mi_version"));
  if (version == nullptr) return "system";
  const int v = version();
  return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
         std::to_string(v % 10);
}

}  // namespace dendrite::host
