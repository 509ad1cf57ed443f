// The dtable node of the dtable fuzz target: a fake host (two local vnodes,
// four more on two peers) running the real plugin. Shared with the seed
// generator so that seeds address the vnodes the target hosts.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/logger.h"
#include "dendrite/testing/fake_host.h"
#include "host/plugin_loader.h"
#include "records.h"

namespace dendrite::fuzz {

class NullLogger final : public Logger {
 public:
  void log(LogLevel, std::string_view) override {}
  bool enabled(LogLevel) const override { return false; }
};

inline std::vector<Vnode> vnodes_of(const std::string& host, int n) {
  std::vector<Vnode> out;
  for (int i = 0; i < n; ++i)
    out.push_back({Id::for_vnode(host, static_cast<std::uint16_t>(i)), host});
  return out;
}

// The plugin: $DENDRITE_FUZZ_DTABLE_PLUGIN, else the one of this build.
inline std::string dtable_plugin_path() {
  if (const char* p = std::getenv("DENDRITE_FUZZ_DTABLE_PLUGIN")) return p;
  return DENDRITE_DTABLE_PLUGIN;
}

// Gives `host` the ring of the target.
inline void configure_table_host(testing::FakeHost& host) {
  host.set_default_timeout(Milliseconds(50));
  std::vector<Vnode> ring = vnodes_of(kTableHost, kTableVnodes);
  for (const char* peer : {kTablePeer1, kTablePeer2}) {
    for (auto& v : vnodes_of(peer, kTableVnodes)) ring.push_back(v);
  }
  host.set_ring(ring);
}

inline host::LoggerFactory null_loggers() {
  return
      [](const std::string&) -> std::shared_ptr<Logger> { return std::make_shared<NullLogger>(); };
}

// Loads and starts the plugin. Unless `settling`, misses do not read through
// to the previous holders; when settling, they do for a minute.
inline Status start_dtable(host::PluginLoader& loader, bool settling = false) {
  Status s = loader.load(
      {host::PluginSpec{"dtable", dtable_plugin_path(),
                        settling ? R"({"settle_ms": 60000, "storage": {"engine": "memory"}})"
                                 : R"({"settle_ms": 0, "storage": {"engine": "memory"}})"}});
  if (!s.ok()) return s;
  return loader.start();
}

}  // namespace dendrite::fuzz
