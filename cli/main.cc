// dendrite-cli: talks to one Dendrite node from outside the ring.
//   dendrite-cli [--node H:P] [--timeout MS] status|ring
// Exit codes (DESIGN.md): 0 ok, 1 not found, 2 usage or bad input,
// 3 unreachable or timed out, 4 consistency not met. Errors: one line on stderr.
#include <algorithm>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dendrite/client/connection.h"
#include "dendrite/client/ring_view.h"

namespace {

using dendrite::Milliseconds;
using dendrite::Status;
using dendrite::StatusCode;

constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitConsistency = 4;

struct Options {
  std::string node = "127.0.0.1:5000";
  int timeout_ms = 5000;
  Milliseconds timeout() const { return Milliseconds(timeout_ms); }
};

// The exit code for a failed command. Anything the node could not answer
// usefully (no reply, Err reply, garbled reply) counts as unreachable.
int exit_code(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kConsistencyNotMet:
      return kExitConsistency;
    default:
      return kExitUnreachable;
  }
}

int fail(const std::string& command, const Status& s) {
  std::cerr << "dendrite-cli: " << command << ": " << s.to_string() << "\n";
  return exit_code(s);
}

void print_json(const nlohmann::json& doc) {
  std::cout << doc.dump(2) << "\n" << std::flush;
}

int run_status(const Options& opt) {
  auto doc = dendrite::client::fetch_status(opt.node, opt.timeout());
  if (!doc.ok()) return fail("status", doc.status());
  print_json(*doc);
  return kExitOk;
}

int run_ring(const Options& opt) {
  auto ring = dendrite::client::walk_ring(opt.node, opt.timeout());
  if (!ring.ok()) return fail("ring", ring.status());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& v : *ring) list.push_back(dendrite::client::vnode_json(v));
  print_json(list);
  return kExitOk;
}

struct Command {
  const char* name;
  const char* help;
  std::function<int(const Options&)> run;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Talks to a Dendrite node.", "dendrite-cli"};
  app.add_option("--node", opt.node, "the node's address, host:port")->capture_default_str();
  app.add_option("--timeout", opt.timeout_ms, "request timeout in milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  app.require_subcommand(1);

  const std::vector<Command> commands = {
      {"status", "print the node's status document (JSON)", run_status},
      {"ring", "walk the ring; print its vnodes as a JSON list of {id, host}", run_ring},
  };
  std::vector<CLI::App*> subcommands;
  std::string names;
  for (const Command& c : commands) {
    subcommands.push_back(app.add_subcommand(c.name, c.help));
    names += names.empty() ? c.name : std::string(", ") + c.name;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (app.get_subcommands().empty()) {
      // A word that is no command comes back as an "extra" argument.
      const auto extras = app.remaining();
      auto word = std::find_if(extras.begin(), extras.end(),
                               [](const std::string& a) { return a.empty() || a[0] != '-'; });
      if (word != extras.end()) {
        what = "unknown command '" + *word + "' (commands: " + names + ")";
      } else if (extras.empty()) {
        what = "no command given (commands: " + names + ")";
      }
    }
    std::cerr << "dendrite-cli: " << what << "\n";
    return kExitUsage;
  }

  if (Status s = dendrite::client::check_node_address(opt.node); !s.ok()) {
    std::cerr << "dendrite-cli: --node: " << s.message() << "\n";
    return kExitUsage;
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (subcommands[i]->parsed()) return commands[i].run(opt);
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}
