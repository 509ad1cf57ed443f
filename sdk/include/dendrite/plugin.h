// The plugin interface, its lifecycle and the export macro.
//
// Lifecycle, driven by the host on its main thread:
//   create (factory) -> init(config, context) -> start() -> ... -> stop() -> destroy.
// - init: parse the config, publish services, claim nothing on the network yet.
//   An error Status stops the host's start-up (exit 2) with its message.
// - start: the ring is up; start threads, timers, servers. Hooks may be called
//   from now on. An error Status stops start-up.
// - stop: join every thread you started, cancel every timer, drop service
//   references and callbacks into other plugins. After stop() returns no hook is
//   called again. Plugins stop in the reverse order of start.
// - destroy: the destructor; runs before the library is released.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#include "dendrite/hooks.h"
#include "dendrite/host.h"
#include "dendrite/logger.h"
#include "dendrite/status.h"

namespace dendrite {

// The SDK ABI version. Bumped whenever a header of sdk/include/dendrite/ changes
// a class layout, a virtual table or a function signature. The host refuses a
// plugin built against another version.
// 2: Host::leaving, TransportHook::handle_async; Host::metrics and the
//    statistics registry (metrics.h), Host::fingers, Plugin::version.
inline constexpr std::uint32_t kSdkAbiVersion = 2;

// What the host hands a plugin at init(). The references stay valid until the
// plugin's stop() returns.
struct PluginContext {
  std::string name;  // the plugin's name from the config
  Host& host;
  Logger& logger;  // named after the plugin
};

// A plugin. The host calls the lifecycle methods from one thread, in order.
class Plugin {
 public:
  virtual ~Plugin() = default;

  // `config_json` is the entry's "config" object as JSON text ("{}" when absent).
  virtual Status init(const std::string& config_json, PluginContext& context) = 0;
  virtual Status start() = 0;
  virtual void stop() = 0;

  // The plugin's version, for the `dendrite_plugin_info` series and logs. Read
  // once after init().
  virtual std::string version() const { return "unknown"; }

  // The plugin's hooks, or nullptr. Each pointer stays valid until destruction.
  virtual TransportHook* transport_hook() { return nullptr; }
  virtual DelegateHook* delegate_hook() { return nullptr; }
};

// The factory a plugin library exports (alias `dendrite_plugin_create`). Returns a
// new plugin owned by the caller, or nullptr on failure. Never throws.
using PluginFactorySignature = Plugin*() noexcept;

}  // namespace dendrite

// Exports the factory of plugin class `ClassName` (default-constructible, derived
// from dendrite::Plugin) and the SDK ABI version, as the Boost.DLL aliases
// `dendrite_plugin_create` and `dendrite_plugin_abi_version`. Use once per library,
// at namespace scope.
#define DENDRITE_PLUGIN(ClassName)                                               \
  namespace dendrite_plugin_export {                                             \
  static ::dendrite::Plugin* create_plugin() noexcept {                          \
    try {                                                                        \
      return new ClassName();                                                    \
    } catch (...) {                                                              \
      return nullptr;                                                            \
    }                                                                            \
  }                                                                              \
  static const std::uint32_t abi_version = ::dendrite::kSdkAbiVersion;           \
  }                                                                              \
  BOOST_DLL_ALIAS(dendrite_plugin_export::create_plugin, dendrite_plugin_create) \
  BOOST_DLL_ALIAS(dendrite_plugin_export::abi_version, dendrite_plugin_abi_version)
