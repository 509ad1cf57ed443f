#include "support/child_process.h"

#include "support/refusing_port.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

namespace dendrite::test {
namespace {

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& out_path,
                           const std::string& err_path, Output output) {
  // Prepared before fork(): after it the child makes async-signal-safe calls only.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string dir = std::filesystem::path(out_path).parent_path().string();
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int flags =
        O_WRONLY | O_CREAT | O_CLOEXEC | (output == Output::kAppend ? O_APPEND : O_TRUNC);
    const int out = ::open(out_path.c_str(), flags, 0644);
    const int err = ::open(err_path.c_str(), flags, 0644);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) ::_exit(127);
    sigset_t none;  // the parent may have signals blocked (ZeroMQ threads)
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // A parent started in the background has SIGINT ignored; the child must not.
    for (int sig : {SIGINT, SIGTERM, SIGQUIT}) ::signal(sig, SIG_DFL);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_code_(other.exit_code_) {}

ChildProcess::~ChildProcess() {
  if (running()) {
    ::kill(pid_, SIGKILL);  // also ends a stopped child
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

bool ChildProcess::running() {
  if (pid_ <= 0 || exit_code_) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) exit_code_ = decode_wait_status(status);
  return !exit_code_;
}

void ChildProcess::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_code_;
}

namespace {

// The low end of the kernel's ephemeral port range (the ports it gives to
// bind(0) and to outgoing connections), or 0 when unknown.
int ephemeral_low() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  return range >> low ? low : 0;
}

}  // namespace

int free_port() {
  // Two things took a test's port between the choice and the bind: the
  // kernel handing a released port to this process's next bind(0) (a node
  // and its resp listener got one port), and, with tests running side by
  // side, another process's outgoing connection or bind(0). So a port goes
  // to one caller per process, and it is drawn below the ephemeral range,
  // where neither of those takes ports; bind(0) only when that range starts
  // too low to leave room.
  static std::mutex mu;
  static std::set<int> handed_out;  // GUARDED_BY(mu)
  static std::mt19937 draw(static_cast<std::uint32_t>(::getpid()) ^
                           static_cast<std::uint32_t>(std::random_device{}()));
  std::lock_guard lock(mu);
  constexpr int kLowest = 10000;
  static const int high = ephemeral_low() - 1;  // read once: it does not change under a test
  if (high - kLowest >= 4096) {
    std::uniform_int_distribution<int> pick(kLowest, high);
    for (int attempt = 0; attempt < 1000; ++attempt) {
      const int port = pick(draw);
      if (handed_out.count(port) == 0 && RefusingPort(port).port() == port) {
        handed_out.insert(port);
        return port;
      }
    }
  }
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = RefusingPort().port();  // bound, then released at once
    if (port == 0) return 0;
    if (handed_out.insert(port).second) return port;
  }
  return 0;
}

}  // namespace dendrite::test
