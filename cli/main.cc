// dendrite-cli: talks to one Dendrite node from outside the ring.
//   dendrite-cli [--node H:P] [--timeout MS] status|ring
//   dendrite-cli [--node H:P] [--timeout MS] set KEY VALUE [--consistency N] [--ttl S]
//                [--if-absent|--if-present]
//   dendrite-cli [--node H:P] [--timeout MS] incr KEY [--by N] [--consistency N]
//   dendrite-cli [--node H:P] [--timeout MS] get KEY | ttl KEY [--ms] | del KEY [--consistency N]
//                | keys [--local]        (get and ttl take --consistency N too)
//   dendrite-cli keygen DIR
// A ring that runs CURVE: --curve-secret-key FILE --curve-node ENTRY..., or
// the environment (DENDRITE_CURVE_SECRET_KEY_FILE, DENDRITE_CURVE_NODES).
// Exit codes (docs/contract.md "Exit codes"): 0 ok, 1 not found, 2 usage or bad input,
// 3 unreachable or timed out, 4 consistency not met. Errors: one line on stderr.
// This file parses the command line; the commands live in ring_commands.cc,
// data_commands.cc and key_commands.cc.
#include <algorithm>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli.h"
#include "data_commands.h"
#include "dendrite/address.h"
#include "dendrite/client/connection.h"
#include "key_commands.h"
#include "ring_commands.h"

namespace {

using dendrite::Status;
using namespace dendrite::cli;

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  DataArgs data;
  CLI::App app{"Talks to a Dendrite node.", "dendrite-cli"};
  app.add_option("--node", opt.node, "the node's address, host:port")->capture_default_str();
  app.add_option("--timeout", opt.timeout_ms, "request timeout in milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  app.add_option("--curve-secret-key", opt.curve_secret_key_file,
                 "this client's CURVE secret key file, for a ring that runs CURVE (else "
                 "$DENDRITE_CURVE_SECRET_KEY_FILE)");
  app.add_option("--curve-node", opt.curve_nodes,
                 "a node's server key as 'KEY host:port', or a file of such lines; repeatable "
                 "(else $DENDRITE_CURVE_NODES, comma-separated)");
  app.require_subcommand(1);

  std::vector<Command> commands;
  commands.push_back({app.add_subcommand("status", "print the node's status document (JSON)"),
                      [&] { return run_status(opt); }});
  commands.push_back(
      {app.add_subcommand("ring", "walk the ring; print its vnodes as a JSON list of {id, host}"),
       [&] { return run_ring(opt); }});

  std::string forget_host;
  CLI::App* forget = app.add_subcommand(
      "forget", "make the node forget a remembered host that will not come back (HOST:PORT)");
  forget->add_option("HOST", forget_host, "the host's advertised address, host:port")->required();
  commands.push_back({forget, [&] { return run_forget(opt, forget_host); }});

  CLI::App* set = app.add_subcommand("set", "write KEY = VALUE (VALUE '-' reads stdin)");
  set->add_option("KEY", data.key, "the key")->required();
  set->add_option("VALUE", data.value, "the value, or - to read it from stdin")->required();
  set->add_option("--consistency", data.consistency,
                  "copies that must hold the write (1 .. replicas + 1)")
      ->capture_default_str();
  set->add_option("--ttl", data.ttl_s, "expire after this many seconds (0: never)")
      ->capture_default_str();
  set->add_flag("--if-absent", data.if_absent,
                "write only if the key has no value (exit 1 if not)");
  set->add_flag("--if-present", data.if_present,
                "write only if the key has a value (exit 1 if not)");
  commands.push_back({set, [&] { return run_set(opt, data); }});

  CLI::App* incr = app.add_subcommand("incr", "add --by to KEY's integer value; print the result");
  incr->add_option("KEY", data.key, "the key")->required();
  incr->add_option("--by", data.by, "the increment (negative to decrement)")->capture_default_str();
  incr->add_option("--consistency", data.consistency,
                   "copies that must hold the write (1 .. replicas + 1)")
      ->capture_default_str();
  commands.push_back({incr, [&] { return run_incr(opt, data); }});

  CLI::App* get = app.add_subcommand("get", "print the value of KEY (no newline added)");
  get->add_option("KEY", data.key, "the key")->required();
  get->add_option("--consistency", data.consistency,
                  "copies read, the newest wins (1 .. replicas + 1)")
      ->capture_default_str();
  commands.push_back({get, [&] { return run_get(opt, data); }});

  CLI::App* ttl = app.add_subcommand("ttl", "print the seconds before KEY expires, or \"none\"");
  ttl->add_option("KEY", data.key, "the key")->required();
  ttl->add_flag("--ms", data.ms, "in milliseconds");
  ttl->add_option("--consistency", data.consistency,
                  "copies read, the newest wins (1 .. replicas + 1)")
      ->capture_default_str();
  commands.push_back({ttl, [&] { return run_ttl(opt, data); }});

  CLI::App* del = app.add_subcommand("del", "delete KEY");
  del->add_option("KEY", data.key, "the key")->required();
  del->add_option("--consistency", data.consistency,
                  "copies that must hold the delete (1 .. replicas + 1)")
      ->capture_default_str();
  commands.push_back({del, [&] { return run_del(opt, data); }});

  CLI::App* keys = app.add_subcommand("keys", "print the keys of the ring, one per line");
  keys->add_flag("--local", data.local, "only the keys whose primary copy is on --node");
  commands.push_back({keys, [&] { return run_keys(opt, data); }});

  CLI::App* backup = app.add_subcommand(
      "backup", "have --node write a consistent copy of its dtable data into DIR on its machine");
  backup->add_option("DIR", data.key, "an absolute path on the node's machine; must not exist")
      ->required();
  commands.push_back({backup, [&] { return run_backup(opt, data); }});

  std::string key_dir;
  CLI::App* keygen = app.add_subcommand(
      "keygen",
      "write a new CURVE key pair into DIR (secret.key, public.key); print the public key");
  keygen->add_option("DIR", key_dir, "a directory (created when missing); keys are not overwritten")
      ->required();
  commands.push_back({keygen, [&] { return run_keygen(key_dir); }});

  std::string names;
  for (const Command& c : commands) {
    names += names.empty() ? c.app->get_name() : ", " + c.app->get_name();
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

  if (Status s = dendrite::check_peer_address(opt.node); !s.ok()) {
    std::cerr << "dendrite-cli: --node: " << s.message() << "\n";
    return kExitUsage;
  }
  if (!keygen->parsed()) {
    auto loaded = dendrite::client::Credentials::from_flags_or_environment(
        opt.curve_secret_key_file, opt.curve_nodes);
    if (!loaded.ok()) {
      std::cerr << "dendrite-cli: " << loaded.status().message() << "\n";
      return kExitUsage;
    }
    opt.credentials = std::move(loaded).value();
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}
