// A stand-in for a node of the original Go implementation, for tests that
// check what our nodes send to one. It listens at the address the "original"
// advertises and judges every request as the original's handlers would read
// it (the rules of docs/wire.md "What an original node requires"):
//   - what would crash or wedge an original, or make it store something else
//     than meant, is a violation (recorded, and a wedging request is never
//     answered, as the original never answers it);
//   - a type the original does not serve (our extensions, the batch probe,
//     reply types) gets Err, as the original answers it;
//   - the rest is passed to a node of ours (the backend, listening elsewhere
//     and advertising the peer's address), whose answer goes back.
// So our nodes see a host that refuses the batch probe (PeerDialect
// kOriginal) and serves only the original's messages; the tests then assert
// that no violation was recorded.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/message.h"
#include "dendrite/status.h"

namespace dendrite::test {

// How the original would take one request (pure; no network).
struct OriginalVerdict {
  enum class Action {
    kServe,   // it serves the type: pass it on
    kRefuse,  // it answers Err (`error`)
    kWedge,   // it never answers: do not answer
  };
  Action action = Action::kServe;
  std::string error;      // kRefuse: the Err text
  std::string violation;  // non-empty: what would hurt an original
};

// Judges `request` as an original with `replicas` replicas would.
OriginalVerdict judge_for_original(const Message& request, int replicas);

// True for the dtable writes that touch an original's unlocked tables.
bool is_original_table_write(MessageType type);

class OriginalStrictPeer {
 public:
  // Binds a ROUTER on "127.0.0.1:<free port>" (see address()); requests are
  // served once set_backend() named the node of ours behind it.
  static Result<std::unique_ptr<OriginalStrictPeer>> start(int replicas);
  ~OriginalStrictPeer();  // stops the thread and closes the sockets
  OriginalStrictPeer(const OriginalStrictPeer&) = delete;
  OriginalStrictPeer& operator=(const OriginalStrictPeer&) = delete;

  // The address the backend must advertise ("127.0.0.1:port").
  const std::string& address() const { return address_; }
  // Where requests the original serves go ("127.0.0.1:port" the backend
  // listens on). Thread-safe; until it is called such requests get no answer.
  void set_backend(const std::string& backend);

  // Every violation so far, each "<type>: <what>" (thread-safe).
  std::vector<std::string> violations() const;
  // Requests seen per type (thread-safe).
  std::map<MessageType, int> seen() const;
  // Hand-overs it was sent as the original takes them (SetItem{demoting}).
  int hand_overs() const;
  // SetReplica requests whose SetReplicaInfo never came (key hashes, hex),
  // as an original would keep them uncommitted.
  std::set<std::string> uncommitted() const;

 private:
  OriginalStrictPeer() = default;
  void loop();
  void record(MessageType type, const std::string& what);

  struct Io;
  std::unique_ptr<Io> io_;
  std::string address_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::string backend_;                  // GUARDED_BY(mu_)
  std::vector<std::string> violations_;  // GUARDED_BY(mu_)
  std::map<MessageType, int> seen_;      // GUARDED_BY(mu_)
  std::set<std::string> uncommitted_;    // GUARDED_BY(mu_)
  int hand_overs_ = 0;                   // GUARDED_BY(mu_)
};

}  // namespace dendrite::test
