// The real dtable plugin on a FakeHost (dtable_on_fake_host.h): a call's
// Options::timeout bounds the requests it sends to other hosts.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "dendrite/dtable/dtable.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/testing/fake_host.h"
#include "dtable.pb.h"
#include "dtable_on_fake_host.h"

namespace dendrite::test {
namespace {

namespace dmsg = dendrite::dtable::msg;
using testing::FakeHost;

constexpr const char* kHost = "127.0.0.1:7100";
constexpr const char* kPeer = "127.0.0.1:7101";

std::vector<Vnode> vnodes_of(const std::string& host) {
  std::vector<Vnode> out;
  for (std::uint16_t i = 0; i < 2; ++i) out.push_back(Vnode{Id::for_vnode(host, i), host});
  return out;
}

// SCAN asks every host for a page of its keys; with Options::timeout each of
// those requests waits that long at most, not the host's default timeout.
TEST(DtableRequestLimitsTest, ScanRequestsWaitAsLongAsTheCallAllows) {
  FakeHost host(kHost, 2);
  host.set_replicas(1);
  std::vector<Vnode> ring = vnodes_of(kHost);
  for (const Vnode& v : vnodes_of(kPeer)) ring.push_back(v);
  std::sort(ring.begin(), ring.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  host.set_ring(ring);
  host.set_default_timeout(Milliseconds(5000));
  host.set_responder([](const std::string&, const Message&) -> Result<Message> {
    ::dtable::PBDTableMultiItemResponse empty;  // no keys there
    return pack(dmsg::kMultiItemResponse, empty);
  });
  DtableOnFakeHost dtable(host, R"({"settle_ms": 0, "storage": {"engine": "memory"}})");
  ASSERT_TRUE(dtable.start().ok());
  auto found = host.find_service(dtable::kServiceName);
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  auto table = std::static_pointer_cast<dtable::Table>(*found);

  for (const Milliseconds limit : {Milliseconds(1234), Milliseconds(0)}) {
    host.clear_requests();
    dtable::Options options;
    options.timeout = limit;
    auto page = table->scan(0, 10, options);
    ASSERT_TRUE(page.ok()) << page.status().to_string();
    EXPECT_TRUE(page->keys.empty());
    int asked = 0;
    for (const auto& r : host.requests()) {
      if (r.message.type != dmsg::kLocalKeys) continue;
      ++asked;
      // Without a limit of its own the call waits the host's timeout.
      EXPECT_EQ(r.timeout, limit.count() > 0 ? limit : Milliseconds(5000)) << r.host;
    }
    EXPECT_GE(asked, 1);
  }
  table.reset();
  dtable.stop();
}

}  // namespace
}  // namespace dendrite::test
