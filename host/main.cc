// dendrited: one Dendrite node (docs/contract.md "dendrited").
//   dendrited [--config FILE] [--listen H:P] [--advertise H:P] [--join H:P]...
//             [--vnodes N] [--replicas N] [--plugin-dir DIR] [--log-level LEVEL]
//             [--print-config]
// Flags override the file, the file overrides the embedded default. Exit codes:
// 0 after a graceful leave on SIGINT/SIGTERM (or after --print-config),
// 1 cannot bind or join, 2 bad config, flags or plugins. Fatal errors are one
// line on stderr.
#include <pthread.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>

#include "host/allocator.h"
#include "host/config.h"
#include "host/logging.h"
#include "host/node.h"

namespace {

using dendrite::Result;
using dendrite::Status;
using dendrite::host::Config;

constexpr int kExitOk = 0;
constexpr int kExitStart = 1;  // cannot bind / cannot join
constexpr int kExitUsage = 2;  // bad config, flags or plugins

int fatal(const std::string& line, int code) {
  std::cerr << "dendrited: " << line << "\n";
  return code;
}

// The directory of this executable ("" when /proc/self/exe is unreadable).
std::string executable_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread exists: every thread inherits the
  // mask, so only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  CLI::App app{"Runs one Dendrite node: joins (or creates) a Chord ring and loads plugins.",
               "dendrited"};
  std::string config_file, listen, advertise, plugin_dir, log_level;
  std::vector<std::string> join;
  int vnodes = 0, replicas = 0;
  bool print_config = false;
  auto* o_config = app.add_option("--config", config_file, "JSON config file (docs/config.md)");
  auto* o_listen = app.add_option("--listen", listen, "address to bind, host:port");
  auto* o_advertise =
      app.add_option("--advertise", advertise, "address other nodes use, host:port");
  auto* o_join = app.add_option("--join", join, "join the ring through host:port (repeatable)")
                     ->allow_extra_args(false);
  auto* o_vnodes = app.add_option("--vnodes", vnodes, "virtual nodes on this host");
  auto* o_replicas = app.add_option("--replicas", replicas, "copies beyond the primary");
  auto* o_plugin_dir = app.add_option("--plugin-dir", plugin_dir, "where lib<name>.so plugins are");
  auto* o_log_level =
      app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");
  app.add_flag("--print-config", print_config, "print the effective config as JSON and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return fatal(e.what(), kExitUsage);
  }

  Config config = dendrite::host::default_config();
  if (*o_config) {
    auto loaded = dendrite::host::load_config_file(std::move(config), config_file);
    if (!loaded.ok()) return fatal(loaded.status().message(), kExitUsage);
    config = std::move(loaded).value();
  }
  if (*o_listen) config.listen = listen;
  if (*o_advertise) config.advertise = advertise;
  if (*o_join) config.join = join;
  if (*o_vnodes) config.vnodes = vnodes;
  if (*o_replicas) config.replicas = replicas;
  if (*o_plugin_dir) config.plugin_dir = plugin_dir;
  if (*o_log_level) {
    auto level = dendrite::host::parse_log_level(log_level);
    if (!level.ok()) return fatal("--log-level: " + level.status().message(), kExitUsage);
    config.log_level = *level;
  }
  if (Status s = dendrite::host::validate(config); !s.ok()) {
    return fatal(s.message(), kExitUsage);
  }
  if (print_config) {
    std::cout << dendrite::host::to_json(config).dump(2) << "\n";
    return kExitOk;
  }

  dendrite::host::set_log_level(config.log_level);
  auto log = dendrite::host::get_logger("dendrited");
  dendrite::host::Node node(config, executable_dir());
  if (Status s = node.start(); !s.ok()) {
    using dendrite::host::StartFailure;
    const StartFailure why = node.failure();
    const bool network = why == StartFailure::kBind || why == StartFailure::kJoin;
    return fatal(s.message(), network ? kExitStart : kExitUsage);
  }
  log->info("node {} is up with {} vnodes (allocator: {}); SIGINT or SIGTERM leaves the ring",
            node.address(), config.vnodes, dendrite::host::allocator_name());

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  log->info("{}: leaving the ring", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  node.stop(/*graceful=*/true);
  log->info("stopped");
  return kExitOk;
}
