// GET and plain SET of keys whose primary copy is on this host, started on
// the connection's I/O thread without a worker (commands.h, start_here()).
#include <atomic>
#include <memory>

#include "handlers.h"

namespace dendrite::resp {

HereStart start_here(const CommandSpec& spec, std::span<const std::string> args,
                     const Session& session, std::string& out, CommandContext& ctx,
                     const std::function<void(std::string reply)>& later) {
  if (!ctx.table || session.consistency != 1) return HereStart::kElsewhere;
  dtable::Options options;
  options.consistency = session.consistency;
  if (spec.run == &cmd_get && args.size() == 2) {
    const bool here =
        ctx.table->get_entry_here(args[1], options, [&](Result<dtable::ValueWithExpiry> entry) {
          ReplyWriter reply(out, session.resp3);
          if (entry.ok()) {
            reply_get(reply, std::move(entry->value), *ctx.stats);
          } else {
            reply_get(reply, entry.status(), *ctx.stats);
          }
        });
    return here ? HereStart::kDone : HereStart::kElsewhere;
  }
  if (spec.run == &cmd_set && args.size() == 3) {
    // The reply is made where the write completes; whichever of this thread
    // (after set_here returned) and the completing one comes second hands it
    // on: into `out` when it completed inline, else through `later`.
    struct Handoff {
      std::atomic<int> state{0};  // 0: both running, 1: answered inline, 2: returned first
      std::string reply;
    };
    auto handoff = std::make_shared<Handoff>();
    const bool resp3 = session.resp3;
    const bool here =
        ctx.table->set_here(args[1], args[2], options, [handoff, resp3, later](Status status) {
          ReplyWriter reply(handoff->reply, resp3);
          reply_set(reply, status);
          int running = 0;
          if (handoff->state.compare_exchange_strong(running, 1)) return;
          later(std::move(handoff->reply));
        });
    if (!here) return HereStart::kElsewhere;
    int running = 0;
    if (handoff->state.compare_exchange_strong(running, 2)) return HereStart::kLater;
    out += handoff->reply;
    return HereStart::kDone;
  }
  return HereStart::kElsewhere;
}

}  // namespace dendrite::resp
