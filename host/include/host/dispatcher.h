// Routes every incoming request to its handler: the ring's messages, the
// host's status message, or the plugin that claimed the type. Unknown types get
// an Err reply. Plugin exceptions are caught and answered with Err.
#pragma once

#include <atomic>
#include <functional>

#include "dendrite/message.h"
#include "host/network.h"
#include "host/plugin_loader.h"
#include "host/ring.h"

namespace dendrite::host {

// Thread-safe: handle() runs on the transport's threads while the node
// attaches the ring and enables or disables plugin dispatch from its own.
class Dispatcher final : public RequestHandler {
 public:
  // `status` builds the reply document of kHostStatus (JSON text); `forget`
  // answers kForgetHost (drops a remembered host; NotFound when unknown).
  Dispatcher(std::function<std::string()> status,
             std::function<Status(const std::string& host)> forget)
      : status_(std::move(status)), forget_(std::move(forget)) {}

  // The ring answers its messages from now on (before: Err "ring not ready").
  // `ring` must outlive the dispatcher or be detached with attach_ring(nullptr).
  void attach_ring(Ring* ring) { ring_.store(ring); }

  // Plugin types are dispatched to `plugins` from now on.
  void enable_plugins(const PluginLoader* plugins) { plugins_.store(plugins); }
  // Plugin types get Err "unknown message type" from now on; returns once no
  // plugin handler is running and every asynchronous answer has been given (or
  // after a minute, logging how many are still outstanding).
  void disable_plugins();

  bool runs_inline(MessageType type) const override;
  // The host's read-only types (ping, status, ring lookups) and the plugin
  // types whose hook says TransportHook::client_may_send().
  bool client_may_send(MessageType type) const override;
  // Plugin types whose hook says TransportHook::runs_inline().
  bool runs_inline_async(MessageType type) const override;
  Message handle(const Message& request) override;
  // Plugin types go to TransportHook::handle_async (the answer may come later,
  // from another thread); everything else is answered at once by handle().
  void handle_async(Message request, std::function<void(Message)> done) override;

 private:
  Message handle_plugin(const Message& request);
  // Err reply for a plugin failure while handling `type`, logged.
  static Message plugin_failure(const PluginLoader* plugins, MessageType type, const char* what);

  std::function<std::string()> status_;
  std::function<Status(const std::string& host)> forget_;
  std::atomic<Ring*> ring_{nullptr};
  std::atomic<const PluginLoader*> plugins_{nullptr};
  std::atomic<int> plugin_calls_{0};
};

}  // namespace dendrite::host
