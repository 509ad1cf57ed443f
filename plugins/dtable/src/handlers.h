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
// host's workers; each takes only table shard locks and never holds one across
// a request to another node.
class Handlers final : public TransportHook {
 public:
  explicit Handlers(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {}

  std::vector<MessageType> message_types() const override;
  std::string type_name(MessageType type) const override;
  Result<Message> handle(const Message& request) override;

 private:
  Message status(const Message& m);
  Message get_item(const Message& m);
  Message set_item(const Message& m, bool replica);
  Message set_multi(const Message& m);
  Message clear_replica(const Message& m);
  Message set_replica_info(const Message& m);
  Message get_multi(const Message& m);
  Message local_keys(const Message& m);
  Message drop_items(const Message& m);
  Message replica_digest(const Message& m);
  Message promote_key(const Message& m);

  std::shared_ptr<Context> ctx_;
};

}  // namespace dendrite::dtable
