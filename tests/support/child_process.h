// Child processes for the system tests and the fault harness: start a program
// with its output in files, signal it, wait for it with a bound, and always
// kill it on destruction. No GoogleTest dependency (the harness is a plain
// program).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dendrite::test {

// How a child's output files are opened.
enum class Output {
  kTruncate,  // a fresh log per start
  kAppend,    // a restarted node keeps the log of its earlier lives
};

// A started child process. Move-only; the destructor SIGKILLs and reaps it if
// it still runs. The child also gets SIGKILL if the thread that started it
// ends (PR_SET_PDEATHSIG), so start children from the main thread only.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with `argv`, stdout to `out_path` and stderr to
  // `err_path` (created, then truncated or appended to as `output` says),
  // SIGINT/SIGTERM/SIGQUIT at their defaults and no signal blocked, in the
  // directory of `out_path` (so what a node writes under its working
  // directory, its data, stays with its logs). pid() is -1 when fork() failed.
  ChildProcess(const std::vector<std::string>& argv, const std::string& out_path,
               const std::string& err_path, Output output = Output::kTruncate);
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // True until the child has been reaped (a stopped child is running).
  bool running();
  // Sends `sig` if the child still runs.
  void signal(int sig);
  // Waits up to `limit` for the child to end. Its exit code, 128 + signal
  // number when a signal ended it, or nullopt when it still runs.
  std::optional<int> wait_for(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's
// ephemeral range (so no outgoing connection takes it meanwhile) when that
// range leaves room, never one this process was handed before; 0 when none
// could be found. Thread-safe.
int free_port();

}  // namespace dendrite::test
