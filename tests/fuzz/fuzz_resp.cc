// Fuzz target: the resp plugin's request parser and commands. The input is a
// byte stream as a Redis client would send it; every command parsed from it
// is run against an in-memory Table (RESP2, or RESP3 after HELLO 3).
// Properties checked:
//  - the parser never reads past its input, consumes at least one byte per
//    command and only whole commands, and a command parsed from the whole
//    stream is parsed the same from the stream cut right after it, and when
//    it arrives in pieces and each call resumes from the last (ParseProgress);
//  - every reply is one well-formed RESP value (the first byte a type sigil)
//    and a command never crashes, whatever its arguments.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "dendrite/dtable/memory_table.h"
#include "request_parser.h"

namespace {

using namespace dendrite;
using namespace dendrite::resp;

class NoClients final : public Clients {
 public:
  std::vector<ClientInfo> list() const override { return {ClientInfo{}}; }
  std::size_t kill(const std::function<bool(const ClientInfo&)>& which) override {
    return which(ClientInfo{}) ? 1 : 0;
  }
  void update(const Session&) override {}
};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A fresh table per input: what one input writes does not grow the next.
  auto table = std::make_shared<dtable::MemoryTable>(3);
  static NoClients clients;
  static ServerStats stats;
  CommandContext ctx;
  ctx.table = table;
  ctx.clients = &clients;
  ctx.stats = &stats;
  ParserLimits limits;
  limits.max_bulk_bytes = 4096;
  limits.max_args = 64;
  limits.max_inline_bytes = 1024;

  const std::string_view in(reinterpret_cast<const char*>(data), size);
  Session session;
  session.id = 1;
  std::size_t at = 0;
  for (int commands = 0; commands < 256 && at < in.size(); ++commands) {
    const std::string_view rest = in.substr(at);
    Parsed p = parse_request(rest, limits);
    if (p.kind != Parsed::Kind::kCommand) break;
    check(p.consumed > 0 && p.consumed <= rest.size());
    Parsed again = parse_request(rest.substr(0, p.consumed), limits);
    check(again.kind == Parsed::Kind::kCommand && again.consumed == p.consumed &&
          again.args == p.args);
    // Resumed in pieces (cut at the input's own bytes), the same command.
    ParseProgress progress;
    Parsed resumed;
    std::size_t cut = 0;
    for (std::size_t step = 1; cut < p.consumed; step = step * 2 + (rest[cut - 1] & 7)) {
      cut = std::min(p.consumed, cut + step);
      resumed = parse_request(rest.substr(0, cut), limits, &progress);
      if (resumed.kind != Parsed::Kind::kNeedMore) break;
    }
    check(resumed.kind == Parsed::Kind::kCommand && resumed.consumed == p.consumed &&
          resumed.args == p.args && progress.count == 0);
    at += p.consumed;
    if (p.args.empty()) continue;
    std::string out;
    ReplyWriter writer(out, session.resp3);
    if (const CommandSpec* spec = admit(p.args, session, writer)) {
      Call call{p.args, session, writer, ctx};
      run_command(*spec, call);
    }
    check(!out.empty() && std::string_view("+-:$*_%~,=").find(out[0]) != std::string_view::npos);
    check(out.size() >= 3 && out.compare(out.size() - 2, 2, "\r\n") == 0);
  }
  return 0;
}
