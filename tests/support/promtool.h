// Test support: running Prometheus's tools (Debian package `prometheus`).
// Header-only.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace dendrite::test {

// The path of executable `name` on PATH, if any.
inline std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path p = std::filesystem::path(dir.empty() ? "." : dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return std::nullopt;
}

// True when running under CI (CI=true), where tools must not be skipped.
inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// The result of `promtool check metrics` on a text.
struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// Runs `promtool check metrics` with `text` on its stdin. `promtool` is the
// binary's path.
inline PromtoolResult promtool_check_metrics(const std::string& promtool, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string base = (dir / ("dendrite-promtool-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(std::rand())))
                               .string();
  { std::ofstream(base + ".prom") << text; }
  const std::string cmd =
      "'" + promtool + "' check metrics < '" + base + ".prom' > '" + base + ".out' 2>&1";
  const int status = std::system(cmd.c_str());
  PromtoolResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(base + ".out");
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  std::filesystem::remove(base + ".prom");
  std::filesystem::remove(base + ".out");
  return r;
}

}  // namespace dendrite::test

// Skips the test when `tool` is not installed, except under CI=true, where
// that is a failure. Sets `var` (std::string) to its path.
#define DENDRITE_REQUIRE_TOOL(var, tool)                                             \
  std::string var;                                                                   \
  do {                                                                               \
    auto found_ = ::dendrite::test::find_program(tool);                              \
    if (!found_) {                                                                   \
      if (::dendrite::test::under_ci()) FAIL() << tool " is required under CI=true"; \
      GTEST_SKIP() << tool " is not installed (Debian package prometheus)";          \
    }                                                                                \
    var = *found_;                                                                   \
  } while (0)
