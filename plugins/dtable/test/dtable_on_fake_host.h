// The real dtable plugin on a FakeHost, for tests that drive its handlers
// directly (the FakeHost's responder answers for the other nodes).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "dendrite/status.h"
#include "dendrite/testing/fake_host.h"
#include "host/plugin_loader.h"
#include "support/programs.h"

namespace dendrite::test {

// The built dtable plugin loaded on `host` and started, with settle_ms 0 (or
// the given config) and its log lines kept. Stops and unloads it in stop() or
// when it goes.
class DtableOnFakeHost {
 public:
  // `config`: the plugin's JSON config.
  explicit DtableOnFakeHost(
      testing::FakeHost& host,
      std::string config = R"({"settle_ms": 0, "storage": {"engine": "memory"}})")
      : config_(std::move(config)),
        log_(std::make_shared<testing::RecordingLogger>()),
        loader_(".", host, [log = log_](const std::string&) { return log; }) {}
  ~DtableOnFakeHost() { stop(); }
  DtableOnFakeHost(const DtableOnFakeHost&) = delete;
  DtableOnFakeHost& operator=(const DtableOnFakeHost&) = delete;

  // Loads and starts the plugin; the first error of either.
  Status start() {
    if (Status s =
            loader_.load({host::PluginSpec{"dtable", plugin_dir() + "/libdtable.so", config_}});
        !s.ok()) {
      return s;
    }
    return loader_.start();
  }
  // The plugin's handler of `type` (null before start() or for a type it
  // does not register).
  TransportHook* hook_for(MessageType type) { return loader_.hook_for(type); }
  // Stops and unloads the plugin (its callbacks still pending run before
  // this returns, so call it while what they touch is alive). Idempotent.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    loader_.stop();
    loader_.unload();
  }

 private:
  std::string config_;
  std::shared_ptr<testing::RecordingLogger> log_;
  host::PluginLoader loader_;
  bool stopped_ = false;
};

}  // namespace dendrite::test
