// Where the tests find what the build made: the programs, the project's
// plugins and the test plugins (paths fixed by CMake for each test target).
#pragma once

#include <string>

namespace dendrite::test {

// The folder of the built programs (dendrited, dendrite-cli, dendrite-bench, ...).
inline std::string bin_dir() {
  return DENDRITE_BIN_DIR;
}
// The path of the built program `name`, e.g. program("dendrited").
inline std::string program(const std::string& name) {
  return bin_dir() + "/" + name;
}
// The folder of the built plugins (libdtable.so, libmetrics.so).
inline std::string plugin_dir() {
  return DENDRITE_PLUGIN_DIR;
}
// The folder of the test plugins (tests/plugins).
inline std::string test_plugin_dir() {
  return DENDRITE_TEST_PLUGIN_DIR;
}

}  // namespace dendrite::test
