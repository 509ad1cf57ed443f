#include "host/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/dll/shared_library.hpp>

#include "dendrite/plugin.h"
#include "dendrite/service_registry.h"
#include "host/logging.h"
#include "host/plugin_descriptor.h"

namespace dendrite::host {
namespace {

constexpr const char* kCreateSymbol = "dendrite_plugin_create";
constexpr const char* kAbiSymbol = "dendrite_plugin_abi_version";
constexpr const char* kDescriptorSymbol = "dendrite_plugin_descriptor";

// What an exception caught from plugin code says. The exception object (whose
// code may live in the plugin) is gone when the caller's catch block ends.
std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return std::string("uncaught exception: ") + e.what();
  } catch (...) {
    return "uncaught exception of unknown type";
  }
}

// The logger used when the factory returns none.
class NullLogger final : public Logger {
 public:
  void log(LogLevel, std::string_view) override {}
  bool enabled(LogLevel) const override { return false; }
};

// The Host a plugin sees: forwards to the real one, except that every service
// the plugin publishes also holds the plugin's library, so that whoever drops
// the last reference (the registry, or another plugin late) runs the service's
// destructor while its code is still mapped.
class PluginHost final : public Host {
 public:
  PluginHost(Host& host, std::shared_ptr<const boost::dll::shared_library> library)
      : host_(host), library_(std::move(library)) {}

  std::string address() const override { return host_.address(); }
  int replicas() const override { return host_.replicas(); }
  Milliseconds default_timeout() const override { return host_.default_timeout(); }
  bool leaving() const override { return host_.leaving(); }
  std::vector<Vnode> local_vnodes() const override { return host_.local_vnodes(); }
  std::optional<Vnode> predecessor(const Id& vnode) const override {
    return host_.predecessor(vnode);
  }
  std::vector<Vnode> successors(const Id& vnode) const override { return host_.successors(vnode); }
  std::vector<Vnode> fingers(const Id& vnode) const override { return host_.fingers(vnode); }
  std::vector<Vnode> remote_successors(const Id& vnode) const override {
    return host_.remote_successors(vnode);
  }
  std::vector<Member> members() const override { return host_.members(); }
  PeerDialect peer_dialect(const std::string& host) const override {
    return host_.peer_dialect(host);
  }
  Result<std::vector<Vnode>> lookup(std::size_t n, const Id& key) override {
    return host_.lookup(n, key);
  }
  Result<Message> request(const std::string& host, const Message& request,
                          Milliseconds timeout) override {
    return host_.request(host, request, timeout);
  }
  void request_async(const std::string& host, Message request, Milliseconds timeout,
                     ReplyCallback done) override {
    host_.request_async(host, std::move(request), timeout, std::move(done));
  }
  Status publish_service(std::string name, std::shared_ptr<void> service) override {
    if (!service) return host_.publish_service(std::move(name), std::move(service));
    void* raw = service.get();
    std::shared_ptr<void> pinned(
        raw, [service = std::move(service), library = library_](void*) mutable {
          service.reset();  // may run plugin code: the library is still held
          library.reset();
        });
    return host_.publish_service(std::move(name), std::move(pinned));
  }
  Result<std::shared_ptr<void>> find_service(std::string_view name) const override {
    return host_.find_service(name);
  }
  MetricsRegistry& metrics() override { return host_.metrics(); }

 private:
  Host& host_;
  const std::shared_ptr<const boost::dll::shared_library> library_;
};

// One loaded plugin. PluginLoader::Impl releases the members explicitly
// (object, then context, host and logger, then library); the declaration order
// makes ~Loaded release them in that order too.
struct Loaded {
  std::string name;
  std::string file;
  std::string config_json;
  // The plugin's descriptor (in its library), or nullptr when it has none.
  const PluginDescriptor* descriptor = nullptr;
  std::vector<Requirement> requirements;                // parsed from the descriptor
  std::shared_ptr<boost::dll::shared_library> library;  // also held by pinned services
  std::unique_ptr<PluginHost> host;
  std::shared_ptr<Logger> logger;
  std::unique_ptr<PluginContext> context;
  std::unique_ptr<Plugin> plugin;
  TransportHook* transport = nullptr;
  DelegateHook* delegate = nullptr;
  bool started = false;
};

}  // namespace

struct PluginLoader::Impl {
  Impl(std::string dir, Host& h, LoggerFactory l, ServiceRegistry* s)
      : plugin_dir(std::move(dir)), host(h), loggers(std::move(l)), services(s) {
    hooks.fill(nullptr);
    owners.fill(-1);
  }

  // "plugin '<name>' (<file>): <cause>" with `code`.
  static Status error(StatusCode code, const Loaded& p, const std::string& cause) {
    return Status(code, "plugin '" + p.name + "' (" + p.file + "): " + cause);
  }

  Status open_one(const PluginSpec& spec);
  Status read_descriptor(Loaded& p);
  Status order_by_requirements();
  Status init_one(Loaded& p);
  Status read_hooks(Loaded& p);
  Status check_claims();
  void stop_all();
  void unload_all();

  const std::string plugin_dir;
  Host& host;
  const LoggerFactory loggers;
  ServiceRegistry* const services;

  // Written by load()/unload() only; read-only (and so safe to share) between.
  std::vector<std::unique_ptr<Loaded>> plugins;
  std::array<TransportHook*, 256> hooks;
  std::array<int, 256> owners;  // index into `plugins`, or -1
  std::array<std::string, 256> type_names;
  std::vector<DelegateHook*> delegates;
};

Status PluginLoader::Impl::open_one(const PluginSpec& spec) {
  auto owned = std::make_unique<Loaded>();
  Loaded& p = *owned;
  p.name = spec.name;
  p.config_json = spec.config_json;
  std::string looked_in;
  if (spec.path) {
    p.file = *spec.path;
    looked_in = *spec.path;
  } else {
    p.file = (std::filesystem::path(plugin_dir) / ("lib" + spec.name + ".so")).string();
    looked_in = plugin_dir;
  }
  for (const auto& other : plugins) {
    if (other->name == p.name) {
      return error(StatusCode::kAlreadyExists, p, "the name '" + p.name + "' is listed twice");
    }
  }

  std::error_code fs_error;
  if (!std::filesystem::is_regular_file(p.file, fs_error)) {
    return error(StatusCode::kNotFound, p, "file not found (looked in " + looked_in + ")");
  }

  // Boost.DLL drops dlerror()'s text, so open the file once directly to learn
  // why it cannot be loaded (e.g. an unresolved symbol), then let Boost.DLL
  // hold the library. A name without a slash would be searched for on the
  // system paths; keep it relative to the current directory as Boost.DLL does.
  std::filesystem::path dl_path = p.file;
  if (!dl_path.has_parent_path()) dl_path = std::filesystem::path(".") / dl_path;
  void* probe = ::dlopen(dl_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (probe == nullptr) {
    const char* why = ::dlerror();
    return error(StatusCode::kInvalidArgument, p,
                 std::string("cannot load: ") + (why ? why : "unknown dlopen error"));
  }
  p.library = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code dll_error;
  p.library->load(dl_path.string(),
                  boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, dll_error);
  ::dlclose(probe);
  if (dll_error || !p.library->is_loaded()) {
    return error(StatusCode::kInvalidArgument, p, "cannot load: " + dll_error.message());
  }
  plugins.push_back(std::move(owned));  // from now on unload_all() releases it

  for (const char* symbol : {kCreateSymbol, kAbiSymbol}) {
    if (!p.library->has(symbol)) {
      return error(StatusCode::kInvalidArgument, p,
                   std::string("not a Dendrite plugin (missing symbol ") + symbol + ")");
    }
  }
  std::uint32_t abi = 0;
  try {
    abi = p.library->get_alias<const std::uint32_t>(kAbiSymbol);
  } catch (const std::exception& e) {
    return error(StatusCode::kInvalidArgument, p,
                 std::string("not a Dendrite plugin (") + e.what() + ")");
  }
  if (abi != kSdkAbiVersion) {
    return error(StatusCode::kInvalidArgument, p,
                 "ABI version mismatch: plugin has " + std::to_string(abi) + ", host has " +
                     std::to_string(kSdkAbiVersion));
  }
  return read_descriptor(p);
}

Status PluginLoader::Impl::read_descriptor(Loaded& p) {
  if (!p.library->has(kDescriptorSymbol)) return Status::Ok();
  try {
    p.descriptor = &p.library->get_alias<const PluginDescriptor>(kDescriptorSymbol);
  } catch (const std::exception& e) {
    return error(StatusCode::kInvalidArgument, p,
                 std::string("malformed descriptor (") + e.what() + ")");
  }
  auto requirements = check_descriptor(*p.descriptor);
  if (!requirements.ok()) {
    return error(StatusCode::kInvalidArgument, p, requirements.status().message());
  }
  p.requirements = std::move(requirements).value();
  return Status::Ok();
}

Status PluginLoader::Impl::order_by_requirements() {
  const std::size_t n = plugins.size();
  // What a requirement names: the descriptor's name, else the config entry's.
  auto identity = [&](std::size_t i) -> std::string {
    const Loaded& p = *plugins[i];
    return p.descriptor ? p.descriptor->name : p.name;
  };
  std::vector<std::vector<std::size_t>> needs(n);  // needs[i]: plugins i requires
  for (std::size_t i = 0; i < n; ++i) {
    Loaded& p = *plugins[i];
    for (const Requirement& r : p.requirements) {
      bool found = false;
      for (std::size_t j = 0; j < n; ++j) {
        if (identity(j) != r.name) continue;
        found = true;
        if (r.min_version) {
          const PluginDescriptor* d = plugins[j]->descriptor;
          if (d == nullptr) {
            return error(StatusCode::kFailedPrecondition, p,
                         "requires '" + r.text + "', but '" + r.name + "' declares no version");
          }
          if (version_less(*parse_version(d->version), *r.min_version)) {
            return error(
                StatusCode::kFailedPrecondition, p,
                "requires '" + r.text + "', but '" + r.name + "' has version " + d->version);
          }
        }
        needs[i].push_back(j);
      }
      if (!found) {
        return error(StatusCode::kFailedPrecondition, p,
                     "requires '" + r.text + "', which is not in the plugin list");
      }
    }
  }
  // Stable topological order: repeatedly take the first plugin (in config
  // order) whose requirements are all placed.
  std::vector<std::size_t> order;
  std::vector<bool> placed(n, false);
  while (order.size() < n) {
    std::size_t next = n;
    for (std::size_t i = 0; i < n && next == n; ++i) {
      if (placed[i]) continue;
      if (std::all_of(needs[i].begin(), needs[i].end(), [&](std::size_t j) { return placed[j]; })) {
        next = i;
      }
    }
    if (next == n) {
      // A cycle: walk unplaced requirements from the first unplaced plugin
      // until one repeats; report the loop from its earliest member in config order.
      std::vector<std::size_t> path;
      std::size_t at = 0;
      while (placed[at]) ++at;
      while (std::find(path.begin(), path.end(), at) == path.end()) {
        path.push_back(at);
        for (std::size_t j : needs[at]) {
          if (!placed[j]) {
            at = j;
            break;
          }
        }
      }
      std::vector<std::size_t> loop(std::find(path.begin(), path.end(), at), path.end());
      std::rotate(loop.begin(), std::min_element(loop.begin(), loop.end()), loop.end());
      std::string text;
      for (std::size_t i : loop) text += plugins[i]->name + " -> ";
      text += plugins[loop.front()]->name;
      return error(StatusCode::kFailedPrecondition, *plugins[loop.front()],
                   "requirement cycle: " + text);
    }
    placed[next] = true;
    order.push_back(next);
  }
  std::vector<std::unique_ptr<Loaded>> sorted;
  sorted.reserve(n);
  for (std::size_t i : order) sorted.push_back(std::move(plugins[i]));
  plugins = std::move(sorted);
  return Status::Ok();
}

Status PluginLoader::Impl::init_one(Loaded& p) {
  PluginFactorySignature* factory = nullptr;
  try {
    factory = &p.library->get_alias<PluginFactorySignature>(kCreateSymbol);
  } catch (const std::exception& e) {
    return error(StatusCode::kInvalidArgument, p,
                 std::string("not a Dendrite plugin (") + e.what() + ")");
  }
  p.plugin.reset(factory());
  if (!p.plugin) return error(StatusCode::kInternal, p, "factory failed");

  p.logger = loggers ? loggers(p.name) : nullptr;
  if (!p.logger) p.logger = std::make_shared<NullLogger>();
  p.host = std::make_unique<PluginHost>(host, p.library);
  p.context = std::make_unique<PluginContext>(PluginContext{p.name, *p.host, *p.logger});
  Status init;
  try {
    init = p.plugin->init(p.config_json, *p.context);
  } catch (...) {
    init = Status::Internal(describe_current_exception());
  }
  if (!init.ok()) return error(init.code(), p, "init failed: " + init.message());
  std::string version;
  try {
    version = p.plugin->version();
  } catch (...) {
    return error(StatusCode::kInternal, p, "version(): " + describe_current_exception());
  }
  if (version == "unknown" && p.descriptor) version = p.descriptor->version;
  host.metrics()
      .gauge("dendrite_plugin_info", "Always 1; one series per loaded plugin.",
             {{"name", p.name}, {"version", version}})
      .set(1);
  return read_hooks(p);
}

Status PluginLoader::Impl::read_hooks(Loaded& p) {
  try {
    p.transport = p.plugin->transport_hook();
    p.delegate = p.plugin->delegate_hook();
  } catch (...) {
    return error(StatusCode::kInternal, p, "hooks: " + describe_current_exception());
  }
  return Status::Ok();
}

Status PluginLoader::Impl::check_claims() {
  for (std::size_t i = 0; i < plugins.size(); ++i) {
    Loaded& p = *plugins[i];
    if (p.delegate) delegates.push_back(p.delegate);
    if (!p.transport) {
      if (p.descriptor && p.descriptor->message_type_count > 0) {
        return error(StatusCode::kInvalidArgument, p,
                     "the descriptor declares message types but there is no transport hook");
      }
      continue;
    }
    std::vector<MessageType> types;
    try {
      types = p.transport->message_types();
    } catch (...) {
      return error(StatusCode::kInternal, p, "message_types(): " + describe_current_exception());
    }
    if (p.descriptor) {
      std::set<MessageType> declared(
          p.descriptor->message_types,
          p.descriptor->message_types + p.descriptor->message_type_count);
      std::set<MessageType> claimed(types.begin(), types.end());
      if (declared != claimed) {
        auto list = [](const std::set<MessageType>& set) {
          std::string out;
          for (MessageType t : set) out += (out.empty() ? "" : ", ") + message_type_hex(t);
          return out.empty() ? std::string("none") : out;
        };
        return error(StatusCode::kInvalidArgument, p,
                     "message_types() returns " + list(claimed) + " but the descriptor declares " +
                         list(declared));
      }
    }
    for (MessageType type : types) {
      if (type <= msg::kLastHostType) {
        return error(StatusCode::kInvalidArgument, p,
                     "claims message type " + message_type_hex(type) + " reserved for the host");
      }
      int owner = owners[type];
      if (owner == static_cast<int>(i)) continue;  // listed twice by the same plugin
      if (owner >= 0) {
        return error(StatusCode::kAlreadyExists, p,
                     "message type " + message_type_hex(type) + " is claimed by both '" +
                         plugins[owner]->name + "' and '" + p.name + "'");
      }
      owners[type] = static_cast<int>(i);
      hooks[type] = p.transport;
      try {
        type_names[type] = p.transport->type_name(type);
      } catch (...) {
        return error(StatusCode::kInternal, p, "type_name(): " + describe_current_exception());
      }
    }
  }
  return Status::Ok();
}

void PluginLoader::Impl::stop_all() {
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    Loaded& p = **it;
    if (!p.started) continue;
    p.started = false;
    try {
      p.plugin->stop();
    } catch (...) {
      get_logger("plugins")->error("plugin '{}' ({}): stop: {}", p.name, p.file,
                                   describe_current_exception());
    }
  }
}

void PluginLoader::Impl::unload_all() {
  stop_all();
  hooks.fill(nullptr);
  owners.fill(-1);
  for (auto& name : type_names) name.clear();
  delegates.clear();
  // Services may be objects of plugin code: drop them while it is loaded.
  if (services) services->clear();
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    Loaded& p = **it;
    p.transport = nullptr;
    p.delegate = nullptr;
    p.plugin.reset();  // destructors are noexcept: a throwing one terminates
  }
  // No object of any plugin is left (but services someone still holds, which
  // keep their library loaded); release contexts, loggers and then the
  // libraries, in reverse load order.
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    (*it)->context.reset();
    (*it)->host.reset();
    (*it)->logger.reset();
  }
  while (!plugins.empty()) {
    plugins.back()->library.reset();
    plugins.pop_back();
  }
}

PluginLoader::PluginLoader(std::string plugin_dir, Host& host, LoggerFactory loggers,
                           ServiceRegistry* services)
    : impl_(std::make_unique<Impl>(std::move(plugin_dir), host, std::move(loggers), services)) {}

PluginLoader::~PluginLoader() {
  impl_->unload_all();
}

Status PluginLoader::load(const std::vector<PluginSpec>& specs) {
  if (!impl_->plugins.empty()) return Status::FailedPrecondition("plugins are already loaded");
  for (const PluginSpec& spec : specs) {
    if (Status s = impl_->open_one(spec); !s.ok()) {
      impl_->unload_all();
      return s;
    }
  }
  if (Status s = impl_->order_by_requirements(); !s.ok()) {
    impl_->unload_all();
    return s;
  }
  for (const auto& p : impl_->plugins) {
    if (Status s = impl_->init_one(*p); !s.ok()) {
      impl_->unload_all();
      return s;
    }
  }
  if (Status s = impl_->check_claims(); !s.ok()) {
    impl_->unload_all();
    return s;
  }
  for (const auto& p : impl_->plugins) {
    get_logger("plugins")->debug("loaded plugin '{}' from {}", p->name, p->file);
  }
  return Status::Ok();
}

Status PluginLoader::start() {
  for (const auto& owned : impl_->plugins) {
    Loaded& p = *owned;
    if (p.started) continue;
    Status s;
    try {
      s = p.plugin->start();
    } catch (...) {
      s = Status::Internal(describe_current_exception());
    }
    if (!s.ok()) {
      impl_->stop_all();
      return Impl::error(s.code(), p, "start failed: " + s.message());
    }
    p.started = true;
  }
  return Status::Ok();
}

void PluginLoader::stop() {
  impl_->stop_all();
}

void PluginLoader::unload() {
  impl_->unload_all();
}

TransportHook* PluginLoader::hook_for(MessageType type) const {
  return impl_->hooks[type];
}

std::string PluginLoader::type_name(MessageType type) const {
  return impl_->type_names[type];
}

std::string PluginLoader::owner_of(MessageType type) const {
  int owner = impl_->owners[type];
  return owner < 0 ? std::string() : impl_->plugins[owner]->name;
}

const std::vector<DelegateHook*>& PluginLoader::delegates() const {
  return impl_->delegates;
}

std::vector<std::string> PluginLoader::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->plugins.size());
  for (const auto& p : impl_->plugins) out.push_back(p->name);
  return out;
}

}  // namespace dendrite::host
