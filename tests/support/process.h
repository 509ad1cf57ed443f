// Child processes for system tests: start a program with its output in files,
// signal it, wait for it with a bound, and always kill it on destruction.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/child_process.h"

namespace dendrite::test {

// A started child process (output files truncated); see common/child_process.h.
using Process = test::ChildProcess;

// What a finished program printed and returned.
struct RunResult {
  int code = -1;  // as Process::wait_for; -1 when it had to be killed
  std::string out;
  std::string err;
};

// Runs `argv` to completion (killed after `limit`), capturing its output via
// files in `dir`.
RunResult run(const std::vector<std::string>& argv, const std::string& dir,
              std::chrono::milliseconds limit = std::chrono::seconds(60));

// The whole content of a file ("" when unreadable).
std::string read_file(const std::string& path);

// The first sanitizer report marker (ASan, LSan, TSan, UBSan) in a program's
// stderr `log`, or "" when there is none.
std::string sanitizer_report(const std::string& log);

// The nodes of a system test by name (their stderr is <dir>/<name>.err) and
// address. Expects no sanitizer report in any node's stderr, and prints
// every node's stderr when `failed` (the test has failed).
void check_node_logs(const std::string& dir,
                     const std::vector<std::pair<std::string, std::string>>& nodes, bool failed);

// The end of a system test's nodes: SIGKILLs the running process of every
// node of `nodes` (a map from name to a struct with `address` and `process`,
// a std::unique_ptr<ChildProcess>), then check_node_logs() them.
template <typename NodeMap>
void kill_and_check_nodes(const std::string& dir, NodeMap& nodes, bool failed) {
  std::vector<std::pair<std::string, std::string>> names;
  for (auto& [name, node] : nodes) {
    if (node.process && node.process->running()) node.process->signal(SIGKILL);
    names.emplace_back(name, node.address);
  }
  check_node_logs(dir, names, failed);
}

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to <dir>/<name> and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace dendrite::test
