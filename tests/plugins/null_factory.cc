// Broken test plugin `null_factory`: the right ABI version, but its factory
// returns nullptr. The loader must report "factory failed".
#include <cstdint>

#include "dendrite/dendrite.h"

namespace null_factory_export {
static dendrite::Plugin* create_plugin() noexcept {
  return nullptr;
}
static const std::uint32_t abi_version = dendrite::kSdkAbiVersion;
}  // namespace null_factory_export

BOOST_DLL_ALIAS(null_factory_export::create_plugin, dendrite_plugin_create)
BOOST_DLL_ALIAS(null_factory_export::abi_version, dendrite_plugin_abi_version)
