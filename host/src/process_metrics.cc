#include "host/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace dendrite::host {
namespace {

// The fields of /proc/self/stat after the command name (field 3 onwards), or
// empty when it cannot be read.
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  // The command name may hold spaces and parentheses: skip to the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// Seconds since the epoch at boot (btime of /proc/stat), or -1.
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double v = -1;
      in >> v;
      return v;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

// Entries of /proc/self/fd (less the one opendir holds), or -1.
double open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  double n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;
}

void collect(MetricWriter& w, double boot) {
  const std::vector<std::string> f = stat_fields();
  // Indices into `f`: field k of proc(5) is f[k - 3].
  constexpr std::size_t kUtime = 14 - 3, kStime = 15 - 3, kStart = 22 - 3, kVsize = 23 - 3,
                        kRss = 24 - 3;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (f.size() > kRss && ticks > 0) {
    const double cpu = (std::stod(f[kUtime]) + std::stod(f[kStime])) / ticks;
    w.counter("dendrite_process_cpu_seconds_total", "User and system CPU time of the process.", {},
              cpu);
    w.gauge("dendrite_process_resident_memory_bytes", "Resident memory of the process.", {},
            std::stod(f[kRss]) * page);
    w.gauge("dendrite_process_virtual_memory_bytes", "Virtual memory of the process.", {},
            std::stod(f[kVsize]));
    if (boot >= 0) {
      w.gauge("dendrite_process_start_time_seconds",
              "Start time of the process, in seconds since the Unix epoch.", {},
              boot + std::stod(f[kStart]) / ticks);
    }
  }
  if (const double fds = open_fds(); fds >= 0) {
    w.gauge("dendrite_process_open_fds", "Open file descriptors of the process.", {}, fds);
  }
  const long max_fds = ::sysconf(_SC_OPEN_MAX);
  if (max_fds > 0) {
    w.gauge("dendrite_process_max_fds", "Limit on open file descriptors of the process.", {},
            static_cast<double>(max_fds));
  }
}

}  // namespace

CollectorHandle register_process_metrics(MetricsRegistry& registry) {
  const double boot = boot_time();
  return registry.add_collector([boot](MetricWriter& w) {
    try {
      collect(w, boot);
    } catch (const std::exception&) {
      // A malformed /proc line (std::stod): leave the figures out.
    }
  });
}

}  // namespace dendrite::host
