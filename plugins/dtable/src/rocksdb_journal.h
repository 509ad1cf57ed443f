// The Journal on RocksDB: one database per node, in its data directory.
// Only rocksdb_journal.cc includes RocksDB's headers.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dendrite/host.h"
#include "dendrite/id.h"
#include "dendrite/status.h"
#include "journal.h"

namespace dendrite::dtable {

struct RocksJournalOptions {
  std::string path;         // the data directory (created when missing)
  bool sync_always = true;  // else periodic
  // How often the log is synced anyway (periodic: the window a power loss
  // can lose; always: what nothing waited for, e.g. a promotion).
  Milliseconds sync_period{1000};
  std::size_t cache_mb = 64;  // block cache, MiB
  // Writes are refused while the directory's file system has less free.
  std::size_t reserve_mb = 128;
  // Where the engine's warnings and errors go (one line each; any thread;
  // not after the journal's close()).
  // RocksDB writes no LOG file of its own: on a full disk that file fails
  // too, and the engine's next line into it aborts the process.
  std::function<void(const std::string&)> engine_log;
};

// Whose data a directory holds: written when the directory is created,
// checked at every later open.
struct JournalIdentity {
  std::string advertise;
  std::vector<Id> vnodes;  // in index order
};

// Opens (or creates) the journal at options.path. Refuses, with one line that
// names the directory or file and what to do: a directory another process
// holds open (two nodes on one directory), one that cannot be created or
// written, a non-empty directory that is not a dendrite data directory, a
// corrupt one, and one written by a node with another advertise address or
// other vnodes.
Result<std::unique_ptr<Journal>> open_rocksdb_journal(const RocksJournalOptions& options,
                                                      const JournalIdentity& identity);

}  // namespace dendrite::dtable
