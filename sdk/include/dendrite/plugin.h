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

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#include "dendrite/hooks.h"
#include "dendrite/host.h"
#include "dendrite/logger.h"
#include "dendrite/message.h"
#include "dendrite/status.h"

namespace dendrite {

// The SDK ABI version. Bumped whenever a header of sdk/include/dendrite/ changes
// a class layout, a virtual table or a function signature. The host refuses a
// plugin built against another version.
// 2: Host::leaving, TransportHook::handle_async; Host::metrics and the
//    statistics registry (metrics.h), Host::fingers, Plugin::version; the
//    optional PluginDescriptor (alias `dendrite_plugin_descriptor`).
// 3: TransportHook::runs_inline (handlers run on the transport's I/O thread).
// 4: Host::members() (the remembered membership, down hosts included).
// 5: TransportHook::client_may_send (which types a client key may send).
// 6: Host::peer_dialect (whether a peer is an original node).
// Promise: within one ABI version a plugin built against any SDK release loads
// into any host of that version. Adding a virtual function, a member or a field
// of PluginDescriptor, or changing a signature, bumps it; adding a non-virtual
// inline helper or a new header does not.
inline constexpr std::uint32_t kSdkAbiVersion = 6;

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

// What a plugin says about itself before the host creates it (alias
// `dendrite_plugin_descriptor`, exported by DENDRITE_PLUGIN_DESCRIBED). A plain
// constant: the host reads it right after the ABI check, without running plugin
// code, to order the plugins by their requirements and to check claims early.
// Every pointer must point to static storage (string literals, namespace-scope
// constexpr arrays). Build one with designated initializers and the helpers:
//   constexpr MessageType kTypes[] = {0x70, 0x71};
//   constexpr const char* kNeeds[] = {"dtable>=0.1"};
//   DENDRITE_PLUGIN_DESCRIBED(MyPlugin, PluginDescriptor{.name = "tally", .version = "1.0.0"}
//                                           .with_types(kTypes).with_requires(kNeeds))
struct PluginDescriptor {
  // The plugin's own name (what other plugins' requirements name); non-empty.
  // It may differ from the name of its config entry.
  const char* name = "";
  // Its version, dotted decimal numbers ("1.4.0"); compared by requirements.
  const char* version = "";
  // The message types the plugin claims: exactly what its
  // TransportHook::message_types() returns (checked at load).
  const MessageType* message_types = nullptr;
  std::size_t message_type_count = 0;
  // Plugins that must be loaded, initialised and started before this one and
  // stopped after it: "name" or "name>=version" (e.g. "dtable>=0.1").
  const char* const* requirements = nullptr;
  std::size_t requirement_count = 0;

  // This descriptor claiming `types`.
  template <std::size_t N>
  constexpr PluginDescriptor with_types(const MessageType (&types)[N]) const {
    PluginDescriptor d = *this;
    d.message_types = types;
    d.message_type_count = N;
    return d;
  }
  // This descriptor requiring `requirements` (see `requirements`).
  template <std::size_t N>
  constexpr PluginDescriptor with_requires(const char* const (&requirements)[N]) const {
    PluginDescriptor d = *this;
    d.requirements = requirements;
    d.requirement_count = N;
    return d;
  }
};

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

// DENDRITE_PLUGIN plus a PluginDescriptor (any constant expression of that type)
// as the alias `dendrite_plugin_descriptor`. Use instead of DENDRITE_PLUGIN, once
// per library, at namespace scope.
#define DENDRITE_PLUGIN_DESCRIBED(ClassName, ...)                         \
  DENDRITE_PLUGIN(ClassName)                                              \
  namespace dendrite_plugin_export {                                      \
  static constexpr ::dendrite::PluginDescriptor descriptor = __VA_ARGS__; \
  }                                                                       \
  BOOST_DLL_ALIAS(dendrite_plugin_export::descriptor, dendrite_plugin_descriptor)
