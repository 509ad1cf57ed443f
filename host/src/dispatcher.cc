#include "host/dispatcher.h"

#include <exception>
#include <string>
#include <thread>

#include "chord.pb.h"
#include "host/logging.h"
#include "host/ring_codec.h"

namespace dendrite::host {
void Dispatcher::disable_plugins() {
  plugins_.store(nullptr);
  // Handlers that already read the pointer finish their call and asynchronous
  // answers still due are given; wait for them (bounded: a plugin that never
  // answers must not hang the shutdown).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  for (int i = 0; plugin_calls_.load() > 0; ++i) {
    if (std::chrono::steady_clock::now() > give_up) {
      get_logger("transport")
          ->error("{} plugin requests still unanswered after a minute; stopping anyway",
                  plugin_calls_.load());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(i < 100 ? 1 : 10));
  }
}

bool Dispatcher::runs_inline(MessageType type) const {
  // The ring's and the host's own handlers never block; plugin handlers may.
  return type <= msg::kLastHostType || plugins_.load() == nullptr ||
         plugins_.load()->hook_for(type) == nullptr;
}

bool Dispatcher::client_may_send(MessageType type) const {
  switch (type) {
    // What a client needs to find its way: liveness, status, ring lookups.
    case msg::kPing:
    case msg::kListVnodes:
    case msg::kFindSuccessors:
    case msg::kGetPredecessor:
    case msg::kHostStatus:
      return true;
    default:
      break;
  }
  if (type <= msg::kLastHostType) return false;  // joins, leaves, notifies, forget
  const PluginLoader* plugins = plugins_.load();
  TransportHook* hook = plugins ? plugins->hook_for(type) : nullptr;
  if (hook == nullptr) return true;  // answered "unknown message type" anyway
  try {
    return hook->client_may_send(type);
  } catch (...) {
    return false;  // a hook that cannot say keeps its type to nodes
  }
}

bool Dispatcher::runs_inline_async(MessageType type) const {
  const PluginLoader* plugins = plugins_.load();
  TransportHook* hook = plugins ? plugins->hook_for(type) : nullptr;
  if (hook == nullptr) return false;
  try {
    return hook->runs_inline(type);
  } catch (...) {
    return false;  // a hook that cannot say is served by the workers
  }
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
  if (request.type == msg::kForgetHost) {
    auto req = unpack<PBForgetHostRequest>(request, msg::kForgetHost);
    if (!req.ok()) return make_error(req.status().message());
    Status s = forget_ ? forget_(req->host()) : Status::Unavailable("ring not ready");
    return s.ok() ? make_ack(true) : make_error(s.message());
  }
  if (request.type <= msg::kLastHostType) {
    get_logger("transport")
        ->debug("unexpected host message type {}", message_type_hex(request.type));
    return make_error("unexpected message type " + message_type_hex(request.type));
  }
  return handle_plugin(request);
}

Message Dispatcher::plugin_failure(const PluginLoader* plugins, MessageType type,
                                   const char* what) {
  get_logger("transport")
      ->error("plugin '{}' threw while handling type {}: {}",
              plugins ? plugins->owner_of(type) : std::string("?"), message_type_hex(type), what);
  return make_error("plugin error handling " + message_type_hex(type));
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
    return plugin_failure(plugins, request.type, e.what());
  } catch (...) {
    return plugin_failure(plugins, request.type, "a non-standard exception");
  }
}

void Dispatcher::handle_async(Message request, std::function<void(Message)> done) {
  if (request.type <= msg::kLastHostType) return done(handle(request));
  plugin_calls_.fetch_add(1);
  const PluginLoader* plugins = plugins_.load();
  TransportHook* hook = plugins ? plugins->hook_for(request.type) : nullptr;
  if (hook == nullptr) {
    plugin_calls_.fetch_sub(1);
    get_logger("transport")->debug("unknown message type {}", message_type_hex(request.type));
    return done(make_error("unknown message type " + message_type_hex(request.type)));
  }
  // Counted until answered, so disable_plugins() waits for late answers too.
  // A plugin that drops every copy of its Respond unanswered gets an Err sent
  // for it (the caller does not wait for nothing, the count comes back).
  struct Pending {
    Pending(std::atomic<int>& c, std::function<void(Message)> d) : calls(c), done(std::move(d)) {}
    ~Pending() { answer(make_error("plugin dropped the request without answering")); }
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    std::atomic<int>& calls;
    std::function<void(Message)> done;
    std::atomic<bool> answered{false};
    void answer(Message m) {
      if (answered.exchange(true)) return;
      done(std::move(m));
      calls.fetch_sub(1);
    }
  };
  auto pending = std::make_shared<Pending>(plugin_calls_, std::move(done));
  Respond respond = [pending](Result<Message> reply) {
    pending->answer(reply.ok() ? std::move(reply).value() : make_error(reply.status().to_string()));
  };
  const MessageType type = request.type;
  try {
    hook->handle_async(request, std::move(respond));
  } catch (const std::exception& e) {
    pending->answer(plugin_failure(plugins, type, e.what()));
  } catch (...) {
    pending->answer(plugin_failure(plugins, type, "a non-standard exception"));
  }
}

}  // namespace dendrite::host
