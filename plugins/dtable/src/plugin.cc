// The dtable plugin: wires the tables, handlers, maintenance worker and the
// "dtable" service into the host through the SDK.
#include <algorithm>
#include <memory>
#include <mutex>

#include "context.h"
#include "dendrite/dendrite.h"
#include "dendrite/dtable/dtable.h"
#include "dendrite/dtable/messages.h"
#include "handlers.h"
#include "maintenance.h"
#include "rocksdb_journal.h"
#include "service.h"
#include "settings.h"

namespace dendrite::dtable {
namespace {

// The journal `storage` asks for (null: memory only).
Result<std::shared_ptr<Journal>> open_journal(const StorageSettings& storage, Host& host,
                                              Logger& log) {
  if (storage.engine == StorageSettings::Engine::kMemory) return std::shared_ptr<Journal>();
  RocksJournalOptions o;
  o.path = storage.path.empty() ? default_data_path(host.address()) : storage.path;
  o.sync_always = storage.sync == StorageSettings::Sync::kAlways;
  o.sync_period = storage.sync_period;
  o.cache_mb = std::max<std::size_t>(storage.cache_mb / 4, 4);
  o.reserve_mb = storage.reserve_mb;
  // Until the journal's close() in stop(): the plugin's logger is alive.
  o.engine_log = [&log](const std::string& line) { log.warn("storage: rocksdb: " + line); };
  JournalIdentity identity;
  identity.advertise = host.address();
  for (const Vnode& v : host.local_vnodes()) identity.vnodes.push_back(v.id);
  auto journal = open_rocksdb_journal(o, identity);
  if (!journal.ok()) return journal.status();
  return std::shared_ptr<Journal>(std::move(*journal));
}

class DTablePlugin final : public Plugin, public DelegateHook {
 public:
  Status init(const std::string& config_json, PluginContext& context) override {
    auto settings = parse_settings(config_json);
    if (!settings.ok()) return settings.status();
    auto journal = open_journal(settings->storage, context.host, context.logger);
    if (!journal.ok()) return journal.status();
    ctx_ = std::make_shared<Context>(context.host, context.logger, *settings,
                                     std::make_shared<HybridClock>(), std::move(*journal));
    if (Status s = ctx_->load_tables(); !s.ok()) return s;
    if (ctx_->journal()) {
      std::size_t keys = 0;
      for (const auto& v : ctx_->vnodes()) keys += v->primary.size() + v->replica.size();
      context.logger.info(
          "storage: " + ctx_->journal()->path() + " (rocksdb, sync " +
          (settings->storage.sync == StorageSettings::Sync::kAlways
               ? std::string("always")
               : "every " + std::to_string(settings->storage.sync_period.count()) + " ms") +
          "), " + std::to_string(keys) + " entries loaded");
    }
    handlers_ = std::make_unique<Handlers>(ctx_);
    maintenance_ = std::make_unique<Maintenance>(ctx_);
    service_ = std::make_shared<TableService>(ctx_);
    return context.host.publish_service(std::string(kServiceName),
                                        std::static_pointer_cast<Table>(service_));
  }

  Status start() override {
    // Misses read through to the previous holders while this node's ranges
    // settle (it may just have joined).
    for (const auto& v : ctx_->vnodes()) v->settle_for(ctx_->settings.settle);
    gauges_ =
        ctx_->host.metrics().add_collector([ctx = ctx_](MetricWriter& w) { collect(*ctx, w); });
    ctx_->start_cache();
    maintenance_->start();
    {
      std::lock_guard lock(mu_);
      running_ = true;
    }
    return Status::Ok();
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (!running_) return;
      running_ = false;
    }
    gauges_.reset();
    maintenance_->stop();
    ctx_->stop_cache();
    // Hand the keys over only when the host leaves the ring gracefully; a
    // stop without leaving behaves like a crash, as the ring sees it.
    if (ctx_->host.leaving()) maintenance_->leave();
    ctx_->hooks.clear();
    // Requests still in flight finish within one timeout.
    if (!ctx_->gate.close_and_wait(4 * ctx_->timeout() + Milliseconds(1000))) {
      ctx_->log.warn("stopping with dtable requests still in flight");
    }
    // The last sync; no callback runs on the journal's thread after this.
    if (ctx_->journal()) ctx_->journal()->close();
  }

  std::string version() const override { return DENDRITE_VERSION; }
  TransportHook* transport_hook() override { return handlers_.get(); }
  DelegateHook* delegate_hook() override { return this; }

  void on_ring_event(const RingEvent& event) override {
    {
      std::lock_guard lock(mu_);
      if (!running_) return;
    }
    maintenance_->post(event);
  }

 private:
  std::mutex mu_;
  bool running_ = false;  // GUARDED_BY(mu_)
  std::shared_ptr<Context> ctx_;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<Maintenance> maintenance_;
  std::shared_ptr<TableService> service_;
  CollectorHandle gauges_;  // between start() and stop()

  // Items and bytes per local vnode and table.
  static void collect(const Context& ctx, MetricWriter& w) {
    for (const auto& v : ctx.vnodes()) {
      for (bool primary : {true, false}) {
        const Store::Usage u = (primary ? v->primary : v->replica).usage();
        const Labels labels{{"vnode", v->self.id.hex()},
                            {"table", primary ? "primary" : "replica"}};
        w.gauge("dendrite_dtable_items",
                "Keys with a visible value (not deleted), by local vnode and table.", labels,
                static_cast<double>(u.items));
        w.gauge("dendrite_dtable_bytes",
                "Bytes of the keys and values counted by dendrite_dtable_items.", labels,
                static_cast<double>(u.bytes));
        if (ctx.journal()) {
          w.gauge("dendrite_dtable_resident_entries",
                  "Entries held in memory (the rest are on disk only), by local vnode and table.",
                  labels,
                  static_cast<double>((primary ? v->primary : v->replica).resident_entries()));
        }
      }
    }
    if (const Journal* j = ctx.journal()) {
      const Journal::Memory m = j->memory();
      const std::pair<const char*, std::uint64_t> parts[] = {{"write_buffers", m.write_buffers},
                                                             {"table_readers", m.table_readers},
                                                             {"block_cache", m.block_cache}};
      for (const auto& [part, bytes] : parts) {
        w.gauge("dendrite_dtable_storage_memory_bytes",
                "Memory RocksDB holds, by part (write buffers, table readers' indexes and "
                "filters, block cache).",
                Labels{{"part", part}}, static_cast<double>(bytes));
      }
    }
  }
};

// The descriptor: exactly what Handlers::message_types() claims (the loader
// checks), no requirements.
constexpr MessageType kClaimedTypes[] = {
    dtable::msg::kStatus,       dtable::msg::kResponse,
    dtable::msg::kItem,         dtable::msg::kMultiItemResponse,
    dtable::msg::kGetItem,      dtable::msg::kSetItem,
    dtable::msg::kSetMultiItem, dtable::msg::kClearReplica,
    dtable::msg::kSetReplica,   dtable::msg::kSetReplicaInfo,
    dtable::msg::kGetMultiItem, dtable::msg::kLocalKeys,
    dtable::msg::kDropItems,    dtable::msg::kReplicaDigest,
    dtable::msg::kPromoteKey,   dtable::msg::kCheckpoint,
    dtable::msg::kMutate};

}  // namespace
}  // namespace dendrite::dtable

DENDRITE_PLUGIN_DESCRIBED(dendrite::dtable::DTablePlugin,
                          dendrite::PluginDescriptor{.name = "dtable", .version = DENDRITE_VERSION}
                              .with_types(dendrite::dtable::kClaimedTypes))
