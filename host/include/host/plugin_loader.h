// Loads plugins from shared objects (Boost.DLL), checks their ABI version and
// message-type claims, and drives their lifecycle. Used by the host's main
// thread only (not thread-safe), except hook_for()/delegates(), which are
// read-only after load() and safe from any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dendrite/hooks.h"
#include "dendrite/host.h"
#include "dendrite/logger.h"
#include "dendrite/message.h"
#include "dendrite/service_registry.h"
#include "dendrite/status.h"

namespace dendrite::host {

// One entry of the config's "plugins" list.
struct PluginSpec {
  std::string name;
  std::optional<std::string> path;  // else <plugin_dir>/lib<name>.so
  std::string config_json = "{}";
};

// Makes the logger of plugin `name`. The returned logger lives as long as the
// loader.
using LoggerFactory = std::function<std::shared_ptr<Logger>(const std::string& name)>;

class PluginLoader {
 public:
  // `host` is handed to every plugin. `services`, if given, is the registry
  // behind host.publish_service(): the loader clears it after the plugins have
  // stopped and before their objects are destroyed, so no service object
  // outlives the library whose code it runs. It must outlive the loader.
  PluginLoader(std::string plugin_dir, Host& host, LoggerFactory loggers,
               ServiceRegistry* services = nullptr);
  ~PluginLoader();  // stops (if started) and unloads

  // Loads the plugins: opens every library in config order (rtld_now), checks
  // its ABI version and reads its PluginDescriptor if it exports one; orders
  // them by their requirements (each after the plugins it requires, otherwise
  // in config order: this is the load, start and names() order); then in that
  // order creates and inits each (then the gauge dendrite_plugin_info{name,
  // version} = 1 goes into host.metrics()); then checks message-type claims
  // across all of them. On failure nothing stays loaded and the Status message
  // is one line:
  //   plugin '<name>' (<file>): <cause>
  // Causes: "file not found (looked in <dir or path>)", "cannot load: <dlerror>",
  // "not a Dendrite plugin (missing symbol <sym>)", "ABI version mismatch:
  // plugin has <p>, host has <h>", "malformed descriptor: <what>", "malformed
  // requirement '<r>' (expected 'name' or 'name>=version')", "requires '<r>',
  // which is not in the plugin list", "requires '<r>', but '<n>' has version
  // <v>" (or "declares no version"), "requirement cycle: a -> b -> a"
  // (reported against the cycle's first plugin in config order), "factory
  // failed", "init failed: <msg>", "message_types() returns <list> but the
  // descriptor declares <list>", "claims message type 0x05 reserved for the
  // host", "message type 0x2a is claimed by both '<a>' and '<b>'" (reported
  // against <b>). An exception from plugin code is caught and reported the
  // same way.
  Status load(const std::vector<PluginSpec>& specs);

  // Starts the plugins in load (requirement) order; on failure stops the started ones and
  // returns "plugin '<name>' (<file>): start failed: <msg>".
  Status start();
  // Stops the plugins in reverse order. Idempotent.
  void stop();
  // Stops (if started), clears the service registry (if given), destroys every
  // plugin object in reverse load order, then releases the libraries. Idempotent.
  void unload();

  // The hook claiming `type`, or nullptr.
  TransportHook* hook_for(MessageType type) const;
  // The name the owner gives `type` (TransportHook::type_name, read at load),
  // or "" when no plugin claims it.
  std::string type_name(MessageType type) const;
  // The plugin name owning `type` ("" if none).
  std::string owner_of(MessageType type) const;
  const std::vector<DelegateHook*>& delegates() const;
  // Names of the loaded plugins, in load order.
  std::vector<std::string> names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::host
