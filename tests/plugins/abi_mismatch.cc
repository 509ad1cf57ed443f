// Broken test plugin `abi_mismatch`: a valid factory, but it claims SDK ABI
// version 999. The loader must refuse it before calling the factory.
#include <cstdint>
#include <new>

#include "dendrite/dendrite.h"

namespace {

class AbiMismatchPlugin final : public dendrite::Plugin {
 public:
  dendrite::Status init(const std::string&, dendrite::PluginContext&) override {
    return dendrite::Status::Ok();
  }
  dendrite::Status start() override { return dendrite::Status::Ok(); }
  void stop() override {}
};

}  // namespace

namespace abi_mismatch_export {
static dendrite::Plugin* create_plugin() noexcept {
  return new (std::nothrow) AbiMismatchPlugin();
}
static const std::uint32_t abi_version = 999;
}  // namespace abi_mismatch_export

BOOST_DLL_ALIAS(abi_mismatch_export::create_plugin, dendrite_plugin_create)
BOOST_DLL_ALIAS(abi_mismatch_export::abi_version, dendrite_plugin_abi_version)
