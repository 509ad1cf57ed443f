// The dtable message handlers: decode a request, run it against the local
// tables (primary.h for reads and writes at a primary), encode the reply.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "dendrite/hooks.h"

namespace dendrite::dtable {

// The plugin's TransportHook. Thread-safe: handlers run concurrently on the
// host's workers and its transport I/O thread; each takes only table shard
// locks and never holds one across a request to another node. Client reads
// and writes are answered asynchronously.
class Handlers final : public TransportHook {
 public:
  explicit Handlers(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {}

  std::vector<MessageType> message_types() const override;
  std::string type_name(MessageType type) const override;
  Result<Message> handle(const Message& request) override;
  // Client reads and writes (GetItem, GetMultiItem, SetItem, SetMultiItem)
  // answer when the other nodes they need have: no worker waits meanwhile.
  // Every other type is answered at once by handle().
  void handle_async(const Message& request, Respond respond) override;
  // The client and replication types, which never block, run on the
  // transport's I/O thread; whole-table walks and PromoteKey do not.
  bool runs_inline(MessageType type) const override;
  // Clients may read, write, list keys and ask for status; replication,
  // hand-overs, promotions and checkpoints are the nodes' own.
  bool client_may_send(MessageType type) const override;

 private:
  // `respond` delayed until the changes made so far are on disk (as the
  // storage's sync policy promises); with an Err when they could not be.
  Respond durable(Respond respond) const;
  // handle_async() waited for (writes sent through Host::request to ourselves).
  Result<Message> wait_for(const Message& m);
  Message status(const Message& m);
  void get_item(const Message& m, Respond respond);
  Message set_replica(const Message& m);
  void set_item(const Message& m, Respond respond);
  void set_multi(const Message& m, Respond respond);
  // Mutate: a write decided at the primary (mutate.h).
  void mutate(const Message& m, Respond respond);
  Message clear_replica(const Message& m);
  Message set_replica_info(const Message& m);
  void get_multi(const Message& m, Respond respond);
  Message local_keys(const Message& m);
  Message drop_items(const Message& m);
  Message replica_digest(const Message& m);
  Message promote_key(const Message& m);
  Message checkpoint(const Message& m);

  std::shared_ptr<Context> ctx_;
};

}  // namespace dendrite::dtable
