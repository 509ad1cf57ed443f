#include "host/dispatcher.h"

#include <exception>
#include <string>
#include <thread>

#include "chord.pb.h"
#include "host/logging.h"

namespace dendrite::host {
void Dispatcher::disable_plugins() {
  plugins_.store(nullptr);
  // Handlers that already read the pointer finish their call; wait for them.
  for (int i = 0; plugin_calls_.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(i < 100 ? 1 : 10));
  }
}

bool Dispatcher::is_inline(MessageType type) const {
  // The ring's and the host's own handlers never block; plugin handlers may.
  return type <= msg::kLastHostType || plugins_.load() == nullptr ||
         plugins_.load()->hook_for(type) == nullptr;
}

Message Dispatcher::handle(const Message& request) {
  if (Ring::handles(request.type)) {
    Ring* ring = ring_.load();
    if (ring == nullptr) return make_error("ring not ready");
    return ring->handle(request);
  }
  if (request.type == msg::kHostStatus) {
    PBHostStatusReply reply;
    reply.set_json(status_());
    return pack(msg::kHostStatusReply, reply);
  }
  if (request.type <= msg::kLastHostType) {
    get_logger("transport")
        ->debug("unexpected host message type {}", message_type_hex(request.type));
    return make_error("unexpected message type " + message_type_hex(request.type));
  }
  return handle_plugin(request);
}

Message Dispatcher::handle_plugin(const Message& request) {
  plugin_calls_.fetch_add(1);
  struct Done {
    std::atomic<int>& n;
    ~Done() { n.fetch_sub(1); }
  } done{plugin_calls_};
  const PluginLoader* plugins = plugins_.load();
  TransportHook* hook = plugins ? plugins->hook_for(request.type) : nullptr;
  if (hook == nullptr) {
    get_logger("transport")->debug("unknown message type {}", message_type_hex(request.type));
    return make_error("unknown message type " + message_type_hex(request.type));
  }
  try {
    Result<Message> reply = hook->handle(request);
    if (!reply.ok()) return make_error(reply.status().to_string());
    return std::move(reply).value();
  } catch (const std::exception& e) {
    get_logger("transport")
        ->error("plugin '{}' threw while handling type {}: {}", plugins->owner_of(request.type),
                message_type_hex(request.type), e.what());
    return make_error("plugin error handling " + message_type_hex(request.type));
  } catch (...) {
    get_logger("transport")
        ->error("plugin '{}' threw a non-exception while handling type {}",
                plugins->owner_of(request.type), message_type_hex(request.type));
    return make_error("plugin error handling " + message_type_hex(request.type));
  }
}

}  // namespace dendrite::host
