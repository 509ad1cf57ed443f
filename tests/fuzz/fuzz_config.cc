// Fuzz target: the JSON config parser (host/config.h). Input: the config
// file's text. A config that parses and validates must survive to_json() (what
// --print-config and `status` print) and be read back from that text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dendrite/address.h"
#include "host/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dendrite::host;  // NOLINT(google-build-using-namespace)
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = parse_config(default_config(), text, "fuzz.json");
  if (!config.ok()) {
    if (config.status().message().empty()) std::abort();
    return 0;
  }
  if (!validate(*config).ok()) return 0;
  const std::string printed = to_json(*config).dump(2);
  // "advertise" is printed as the advertised address, which a file must give
  // with a port from 1: a config listening on port 0 (ephemeral) and not
  // advertising prints a file that is refused (docs/fuzzing.md, findings).
  if (!dendrite::check_peer_address(config->advertised()).ok()) return 0;
  auto again = parse_config(Config{}, printed, "printed");
  if (!again.ok() || !validate(*again).ok()) std::abort();
  if (to_json(*again) != to_json(*config)) std::abort();
  return 0;
}
