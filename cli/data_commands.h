// dendrite-cli set, get, ttl, del and keys: the key/value commands, over
// dendrite::client::DtableClient.
#pragma once

#include <cstdint>
#include <string>

#include "cli.h"

namespace dendrite::cli {

// The arguments of the key/value commands.
struct DataArgs {
  std::string key;
  std::string value;    // set: the value, or "-" to read it from stdin
  int consistency = 1;  // set, del: copies that must hold the write; get, ttl: copies read
  bool local = false;   // keys: only the keys whose primary is on --node
  // set: expire after this many seconds (0: never); write only when the key
  // is absent / present (decided at the key's primary).
  std::int64_t ttl_s = 0;
  bool if_absent = false;
  bool if_present = false;
  std::int64_t by = 1;  // incr: the increment
  bool ms = false;      // ttl: in milliseconds
};

// Writes the value; prints nothing. Exit 0, 1 (--if-absent / --if-present
// and the condition did not hold: nothing written), 2 (bad key, consistency
// or --ttl; the message names the maximum), 3, 4.
int run_set(const Options& opt, const DataArgs& args);
// Adds --by to the key's integer value (absent: 0) at its primary and prints
// the result and a newline. Exit 0, 2 (not an integer, overflow, bad key or
// consistency), 3 (also: no answer, so it may or may not have been applied), 4.
int run_incr(const Options& opt, const DataArgs& args);
// Prints the value bytes as they are (no newline added). Exit 0, 1 not found, 2, 3.
int run_get(const Options& opt, const DataArgs& args);
// Prints the time left before the key's value expires, in whole seconds
// rounded to the nearest (milliseconds with --ms; 0 when due now), or
// "none" when it never expires, and a newline. The time left is the stored
// expiry (Unix time) less this machine's clock. Exit 0, 1 not found (or
// expired), 2, 3.
int run_ttl(const Options& opt, const DataArgs& args);
// Deletes the key; prints nothing. Exit 0 (also when absent), 2, 3, 4.
int run_del(const Options& opt, const DataArgs& args);
// Has --node back up its tables into DIR there (args.key); prints nothing.
// Exit 0, 2 (bad DIR, a node without on-disk tables), 3.
int run_backup(const Options& opt, const DataArgs& args);
// Prints the keys, sorted, one per line: of the whole ring, or with --local
// those whose primary is on --node. Exit 0, 3.
int run_keys(const Options& opt, const DataArgs& args);

}  // namespace dendrite::cli
