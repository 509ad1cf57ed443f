// Fuzz target: the host's ring messages, decoded and dispatched as the
// transport does (Dispatcher -> Ring::handle), on ring host A of a two-host
// ring (A, B) built afresh for every input over the in-memory network
// (tests/support/mem_network.h). Input: records (records.h); each record's
// bytes are one request frame (type byte + protobuf) delivered to A. Afterwards
// A runs a stabilisation round per vnode and a lookup, so state a request left
// broken shows up.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "dendrite/id.h"
#include "dendrite/message.h"
#include "host/dispatcher.h"
#include "host/logging.h"
#include "host/ring.h"
#include "records.h"
#include "ring_setup.h"
#include "support/mem_network.h"

namespace {

using dendrite::Message;
using dendrite::host::Dispatcher;
using dendrite::host::Ring;
namespace fuzz = dendrite::fuzz;

// At most this many requests per input (keeps one input's cost bounded).
constexpr int kMaxRequests = 64;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dendrite::host::set_log_level(dendrite::LogLevel::kOff);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dendrite::test::MemNetwork net;
  auto a = dendrite::fuzz::make_fuzz_ring(net, fuzz::kRingHostA);
  auto b = dendrite::fuzz::make_fuzz_ring(net, fuzz::kRingHostB);
  Dispatcher dispatcher([] { return std::string("{}"); },
                        [](const std::string& host) {
                          return dendrite::Status::NotFound("not remembered: " + host);
                        });
  dispatcher.attach_ring(a.get());
  net.add(fuzz::kRingHostA, [&dispatcher](const Message& m) { return dispatcher.handle(m); });
  net.add(fuzz::kRingHostB, [ring = b.get()](const Message& m) { return ring->handle(m); });
  a->create();
  if (!b->join({fuzz::kRingHostA}).ok()) std::abort();

  dendrite::fuzz::RecordReader in(data, size);
  dendrite::fuzz::Record r;
  for (int n = 0; n < kMaxRequests && in.next(r); ++n) {
    auto request = Message::from_frame(r.bytes);
    if (!request.ok()) continue;
    // As the transport does: the reply goes back as one frame.
    const Message reply = dispatcher.handle(*request);
    if (reply.to_frame().empty()) std::abort();
  }
  for (std::size_t i = 0; i < a->vnode_count(); ++i) a->stabilize(i);
  (void)a->lookup(3, dendrite::Id::hash("fuzz"));
  net.remove(fuzz::kRingHostA);
  net.remove(fuzz::kRingHostB);
  return 0;
}
