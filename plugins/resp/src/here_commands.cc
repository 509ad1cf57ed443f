// GET and plain SET started on the connection's I/O thread without a worker
// (commands.h, start_here()): answered here when the key's primary copy is on
// this host, else sent to the key's primary without waiting.
#include <atomic>
#include <memory>

#include "handlers.h"

namespace dendrite::resp {

namespace {

// Writes GET's reply for `entry`.
void reply_entry(ReplyWriter& reply, Result<dtable::ValueWithExpiry> entry, ServerStats& stats) {
  if (entry.ok()) {
    reply_get(reply, std::move(entry->value), stats);
  } else {
    reply_get(reply, entry.status(), stats);
  }
}

// Hands an async attempt's outcome to `later`: the answer, formatted by
// text_of() on the I/O thread, or the Table's go_on() followed by text_of()
// on a worker.
template <typename T, typename TextOf>
void hand_on(const Later& later, dtable::AsyncAttempt<T> attempt, TextOf text_of) {
  if (attempt.go_on) {
    return later({[go_on = std::move(attempt.go_on), text_of] { return text_of(go_on()); },
                  /*blocking=*/true});
  }
  later({[result = std::move(attempt.result), text_of]() mutable {
           return text_of(std::move(result));
         },
         /*blocking=*/false});
}

// Sends the GET or plain SET to the key's primary without waiting; the reply
// goes to `later`. kElsewhere when the Table cannot send it so.
HereStart start_async(bool get, std::span<const std::string> args, const Session& session,
                      CommandContext& ctx, const Later& later) {
  dtable::Options options;
  options.consistency = session.consistency;
  const bool resp3 = session.resp3;
  ServerStats* stats = ctx.stats;
  bool sent = false;
  if (get) {
    using Entry = Result<dtable::ValueWithExpiry>;
    auto text_of = [resp3, stats](Entry entry) {
      std::string text;
      ReplyWriter reply(text, resp3);
      reply_entry(reply, std::move(entry), *stats);
      return text;
    };
    sent = ctx.table->get_entry_async(args[1], options,
                                      [later, text_of](dtable::AsyncAttempt<Entry> attempt) {
                                        hand_on(later, std::move(attempt), text_of);
                                      });
  } else {
    auto text_of = [resp3](const Status& status) {
      std::string text;
      ReplyWriter reply(text, resp3);
      reply_set(reply, status);
      return text;
    };
    sent = ctx.table->set_async(args[1], args[2], options,
                                [later, text_of](dtable::AsyncAttempt<Status> attempt) {
                                  hand_on(later, std::move(attempt), text_of);
                                });
  }
  return sent ? HereStart::kLater : HereStart::kElsewhere;
}

}  // namespace

HereStart start_here(const CommandSpec& spec, std::span<const std::string> args,
                     const Session& session, std::string& out, CommandContext& ctx,
                     const Later& later, bool may_send) {
  if (!ctx.table) return HereStart::kElsewhere;
  const bool get = spec.run == &cmd_get && args.size() == 2;
  const bool set = spec.run == &cmd_set && args.size() == 3;
  if (!get && !set) return HereStart::kElsewhere;
  auto send = [&] {
    return may_send ? start_async(get, args, session, ctx, later) : HereStart::kElsewhere;
  };
  if (session.consistency != 1) return send();
  dtable::Options options;
  options.consistency = session.consistency;
  if (get) {
    const bool here =
        ctx.table->get_entry_here(args[1], options, [&](Result<dtable::ValueWithExpiry> entry) {
          ReplyWriter reply(out, session.resp3);
          reply_entry(reply, std::move(entry), *ctx.stats);
        });
    return here ? HereStart::kDone : send();
  }
  {
    // The reply is made where the write completes; whichever of this thread
    // (after set_here returned) and the completing one comes second hands it
    // on: into `out` when it completed inline, else through `later`, copied
    // into the Handoff only then.
    struct Handoff {
      std::atomic<int> state{0};  // 0: both running, 1: answered inline, 2: returned first
      bool resp3 = false;
      std::string reply;
      Later later;  // set before state becomes 2
    };
    auto handoff = std::make_shared<Handoff>();
    handoff->resp3 = session.resp3;
    const bool here = ctx.table->set_here(args[1], args[2], options, [handoff](Status status) {
      ReplyWriter reply(handoff->reply, handoff->resp3);
      reply_set(reply, status);
      int running = 0;
      if (handoff->state.compare_exchange_strong(running, 1)) return;
      handoff->later({[text = std::move(handoff->reply)] { return text; }, /*blocking=*/false});
    });
    if (!here) return send();
    if (handoff->state.load() == 0) handoff->later = later;
    int running = 0;
    if (handoff->state.compare_exchange_strong(running, 2)) return HereStart::kLater;
    out += handoff->reply;
    return HereStart::kDone;
  }
}

}  // namespace dendrite::resp
