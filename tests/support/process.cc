#include "support/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace dendrite::test {
RunResult run(const std::vector<std::string>& argv, const std::string& dir,
              std::chrono::milliseconds limit) {
  static int counter = 0;
  const std::string base = dir + "/run" + std::to_string(++counter);
  RunResult result;
  {
    Process p(argv, base + ".out", base + ".err");
    if (p.pid() < 0) ADD_FAILURE() << "fork: " << std::strerror(errno);
    auto code = p.wait_for(limit);
    if (!code) {
      ADD_FAILURE() << argv[0] << " did not finish within " << limit.count() << " ms";
    }
    result.code = code.value_or(-1);
  }
  result.out = read_file(base + ".out");
  result.err = read_file(base + ".err");
  return result;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sanitizer_report(const std::string& log) {
  for (const char* report : {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                             "ERROR: LeakSanitizer", "runtime error:"}) {
    if (log.find(report) != std::string::npos) return report;
  }
  return "";
}

void check_node_logs(const std::string& dir,
                     const std::vector<std::pair<std::string, std::string>>& nodes, bool failed) {
  for (const auto& [name, address] : nodes) {
    const std::string log = read_file(dir + "/" + name + ".err");
    const std::string report = sanitizer_report(log);
    EXPECT_EQ(report, "") << "node " << name;
    if (failed || !report.empty())
      std::cerr << "---- stderr of node " << name << " (" << address << ")\n" << log;
  }
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/dendrite-system-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
  }
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  const std::string file = path_ + "/" + name;
  std::ofstream(file) << content;
  return file;
}

}  // namespace dendrite::test
