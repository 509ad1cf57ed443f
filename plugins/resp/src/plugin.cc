// The resp plugin: a Redis-protocol (RESP2/RESP3) front end for dtable. Every
// node's front end serves every key: dtable's Table routes each call to the
// key's primary (a local vnode in-process, others through the ring). See
// docs/resp.md.
#include <memory>
#include <string>

#include "commands.h"
#include "dendrite/dendrite.h"
#include "dendrite/dtable/dtable.h"
#include "dendrite/id.h"
#include "open_files.h"
#include "server.h"
#include "settings.h"

namespace dendrite::resp {
namespace {

class RespPlugin final : public Plugin {
 public:
  Status init(const std::string& config_json, PluginContext& context) override {
    auto settings = parse_settings(config_json);
    if (!settings.ok()) return settings.status();
    ctx_.settings = *settings;
    host_ = &context.host;
    log_ = &context.logger;
    return Status::Ok();
  }

  Status start() override {
    auto table = host_->get_service<dtable::Table>(dtable::kServiceName);
    if (!table.ok()) {
      return Status::FailedPrecondition("resp needs the dtable plugin: " +
                                        table.status().message());
    }
    ctx_.table = *table;
    ctx_.stats = &stats_;
    ctx_.metrics = &host_->metrics();
    ctx_.node.address = host_->address();
    ctx_.node.version = DENDRITE_VERSION;
    ctx_.node.ring_lines = [host = host_] {
      std::vector<std::string> lines;
      int i = 0;
      for (const Vnode& v : host->local_vnodes()) {
        const auto pred = host->predecessor(v.id);
        const auto succ = host->successors(v.id);
        lines.push_back("vnode_" + std::to_string(i++) + ":id=" + v.id.hex() +
                        ",predecessor=" + (pred ? pred->host : std::string("unknown")) +
                        ",successor=" + (succ.empty() ? std::string("none") : succ[0].host));
      }
      return lines;
    };
    if (std::string low = ensure_open_files(ctx_.settings.max_clients + kReservedFiles);
        !low.empty()) {
      log_->warn("resp: " + low);
    }
    server_ = std::make_unique<Server>(ctx_);
    if (Status s = server_->start(); !s.ok()) {
      server_.reset();
      ctx_.table.reset();
      return s;
    }
    log_->info(std::string("resp: serving Redis clients on ") + server_->address() +
               (ctx_.settings.tls ? " (TLS only)" : ""));
    return Status::Ok();
  }

  void stop() override {
    if (server_) {
      server_->stop();
      server_.reset();
    }
    ctx_.table.reset();
  }

  std::string version() const override { return DENDRITE_VERSION; }

 private:
  Host* host_ = nullptr;
  Logger* log_ = nullptr;
  ServerStats stats_;
  CommandContext ctx_;
  std::unique_ptr<Server> server_;
};

constexpr const char* kRequires[] = {"dtable"};

}  // namespace
}  // namespace dendrite::resp

DENDRITE_PLUGIN_DESCRIBED(dendrite::resp::RespPlugin,
                          dendrite::PluginDescriptor{.name = "resp", .version = DENDRITE_VERSION}
                              .with_requires(dendrite::resp::kRequires))
