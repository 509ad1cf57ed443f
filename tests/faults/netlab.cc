#include "faults/netlab.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace dendrite::faults {
namespace {

// Run number within this process: each lab gets its own names.
int next_run = 0;

std::string resolve(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string path = std::string(dir) + program;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// The pid in a name "dfz<pid>-..." or "dfz<pid>r...", or 0.
long owner_pid(const std::string& name) {
  if (name.rfind("dfz", 0) != 0) return 0;
  std::size_t k = 3;
  long pid = 0;
  while (k < name.size() && name[k] >= '0' && name[k] <= '9' && pid < 100000000) {
    pid = pid * 10 + (name[k] - '0');
    ++k;
  }
  if (k == 3 || k == name.size() || (name[k] != '-' && name[k] != 'r')) return 0;
  return pid;
}

bool process_gone(long pid) {
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

int run_command(const std::vector<std::string>& argv, std::string* out) {
  if (argv.empty()) return 127;
  const std::string path = resolve(argv[0]);
  if (path.empty()) return 127;
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args[0] = const_cast<char*>(path.c_str());
  args.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 127;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return 127;
  }
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || ::dup2(fds[1], 1) < 0 || ::dup2(null, 2) < 0 || ::dup2(null, 0) < 0) {
      ::_exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out != nullptr) *out = std::move(text);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string ip_program() {
  return resolve("ip");
}

bool NetLab::drops_available() {
  return !resolve("iptables").empty();
}

bool NetLab::available(std::string* why) {
  if (::geteuid() != 0) {
    *why = "not root";
    return false;
  }
  const std::string ip = ip_program();
  if (ip.empty()) {
    *why = "no `ip` (install iproute2)";
    return false;
  }
  const std::string probe = "dfz" + std::to_string(::getpid()) + "-probe";
  if (run_command({ip, "netns", "add", probe}) != 0) {
    *why = "`ip netns add` failed";
    return false;
  }
  const bool deleted = run_command({ip, "netns", "del", probe}) == 0;
  if (!deleted) *why = "`ip netns del` failed";
  return deleted;
}

void NetLab::remove_stale() {
  const std::string ip = ip_program();
  if (ip.empty()) return;
  std::string text;
  if (run_command({ip, "netns", "list"}, &text) == 0) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      const std::string name = line.substr(0, line.find(' '));
      const long pid = owner_pid(name);
      if (pid > 0 && process_gone(pid)) run_command({ip, "netns", "del", name});
    }
  }
  if (run_command({ip, "-o", "link", "show"}, &text) == 0) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      // "12: dfz123r0@if11: <...>"
      const std::size_t from = line.find(": ");
      if (from == std::string::npos) continue;
      const std::size_t to = line.find_first_of("@:", from + 2);
      const std::string name = line.substr(from + 2, to - from - 2);
      const long pid = owner_pid(name);
      if (pid > 0 && process_gone(pid)) run_command({ip, "link", "del", name});
    }
  }
}

NetLab::~NetLab() {
  stop();
}

bool NetLab::ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{ip_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv) == 0;
}

std::string NetLab::ns_name(int i) const {
  return prefix_ + "-n" + std::to_string(i);
}

std::vector<std::string> NetLab::exec_prefix(int i) const {
  return {ip_, "netns", "exec", ns_name(i)};
}

std::string NetLab::node_ip(int i) const {
  return "10.77." + std::to_string(subnet_) + "." + std::to_string(i + 1);
}

bool NetLab::start(int nodes, std::string* error) {
  ip_ = ip_program();
  if (ip_.empty() || nodes < 1 || nodes > 250) {
    *error = "no `ip` or a bad node count";
    return false;
  }
  remove_stale();
  const int run = next_run++;
  const std::string pid = std::to_string(::getpid());
  prefix_ = "dfz" + pid + "-" + std::to_string(run);
  root_link_ = "dfz" + pid + "r" + std::to_string(run);
  hub_ = prefix_ + "-hub";
  nodes_ = nodes;
  // A /24 that no address or route of the root namespace mentions yet.
  std::string used;
  std::string text;
  run_command({ip_, "-o", "-4", "addr", "show"}, &text);
  used += text;
  run_command({ip_, "-4", "route", "show", "table", "all"}, &text);
  used += text;
  const int first = static_cast<int>(::getpid() % 250);
  for (int k = 0; k < 250 && subnet_ < 0; ++k) {
    const int s = 1 + (first + k) % 250;
    if (used.find("10.77." + std::to_string(s) + ".") == std::string::npos) subnet_ = s;
  }
  if (subnet_ < 0) {
    *error = "no free 10.77.S.0/24";
    return false;
  }
  auto fail = [&](const std::string& what) {
    *error = "ip: " + what + " failed";
    return false;
  };
  if (!ip({"netns", "add", hub_})) return fail("netns add " + hub_);
  made_ns_.push_back(hub_);
  if (!ip({"-n", hub_, "link", "set", "lo", "up"}) ||
      !ip({"-n", hub_, "link", "add", "br0", "type", "bridge"}) ||
      !ip({"-n", hub_, "link", "set", "br0", "up"})) {
    return fail("bridge in " + hub_);
  }
  if (!ip({"link", "add", root_link_, "type", "veth", "peer", "name", "up0", "netns", hub_})) {
    return fail("link add " + root_link_);
  }
  made_root_link_ = true;
  if (!ip({"-n", hub_, "link", "set", "up0", "master", "br0"}) ||
      !ip({"-n", hub_, "link", "set", "up0", "up"}) ||
      !ip({"addr", "add", "10.77." + std::to_string(subnet_) + ".254/24", "dev", root_link_}) ||
      !ip({"link", "set", root_link_, "up"})) {
    return fail("root link " + root_link_);
  }
  for (int i = 0; i < nodes; ++i) {
    const std::string ns = ns_name(i);
    const std::string port = "v" + std::to_string(i);
    if (!ip({"netns", "add", ns})) return fail("netns add " + ns);
    made_ns_.push_back(ns);
    if (!ip({"-n", hub_, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
             ns}) ||
        !ip({"-n", hub_, "link", "set", port, "master", "br0"}) ||
        !ip({"-n", hub_, "link", "set", port, "up"}) ||
        !ip({"-n", ns, "addr", "add", node_ip(i) + "/24", "dev", "eth0"}) ||
        !ip({"-n", ns, "link", "set", "eth0", "up"}) ||
        !ip({"-n", ns, "link", "set", "lo", "up"})) {
      return fail("links of " + ns);
    }
  }
  return true;
}

void NetLab::stop() {
  if (ip_.empty()) return;
  // Deleting a namespace deletes the veth ends in it, and with them their peers.
  for (auto it = made_ns_.rbegin(); it != made_ns_.rend(); ++it) ip({"netns", "del", *it});
  made_ns_.clear();
  if (made_root_link_) {
    std::string text;
    if (run_command({ip_, "link", "show", root_link_}, &text) == 0) {
      ip({"link", "del", root_link_});
    }
    made_root_link_ = false;
  }
  cut_.clear();
}

bool NetLab::partition(const std::vector<int>& group) {
  if (!cut_.empty() && !heal()) return false;
  bool ok = true;
  cut_ = group;
  for (int a : group) {
    for (int b = 0; b < nodes_; ++b) {
      if (std::find(group.begin(), group.end(), b) != group.end()) continue;
      ok = ip({"-n", ns_name(a), "route", "add", "blackhole", node_ip(b) + "/32"}) && ok;
      ok = ip({"-n", ns_name(b), "route", "add", "blackhole", node_ip(a) + "/32"}) && ok;
    }
  }
  return ok;
}

bool NetLab::heal() {
  bool ok = true;
  for (int a : cut_) {
    for (int b = 0; b < nodes_; ++b) {
      if (std::find(cut_.begin(), cut_.end(), b) != cut_.end()) continue;
      ok = ip({"-n", ns_name(a), "route", "del", "blackhole", node_ip(b) + "/32"}) && ok;
      ok = ip({"-n", ns_name(b), "route", "del", "blackhole", node_ip(a) + "/32"}) && ok;
    }
  }
  cut_.clear();
  return ok;
}

bool NetLab::drop(const std::vector<std::pair<int, int>>& pairs) {
  const std::string iptables = resolve("iptables");
  if (iptables.empty()) return false;
  bool ok = true;
  for (auto [from, to] : pairs) {
    ok = ip({"netns", "exec", ns_name(to), iptables, "-w", "-A", "INPUT", "-s",
             node_ip(from) + "/32", "-j", "DROP"}) &&
         ok;
  }
  dropping_ = true;
  return ok;
}

bool NetLab::undrop() {
  if (!dropping_) return true;
  const std::string iptables = resolve("iptables");
  bool ok = !iptables.empty();
  for (int i = 0; i < nodes_ && ok; ++i) {
    ok = ip({"netns", "exec", ns_name(i), iptables, "-w", "-F", "INPUT"}) && ok;
  }
  dropping_ = false;
  return ok;
}

}  // namespace dendrite::faults
