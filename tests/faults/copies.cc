#include "faults/copies.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "dendrite/client/connection.h"
#include "dendrite/id.h"
#include "dtable_wire.h"

namespace dendrite::faults {

std::vector<CopiesRead> read_copies(const std::vector<Vnode>& ring, int replicas,
                                    const std::vector<KeyHistory>& histories,
                                    const std::vector<FinalRead>& finals,
                                    std::chrono::milliseconds timeout,
                                    std::shared_ptr<const client::Credentials> credentials) {
  std::vector<CopiesRead> out(histories.size());
  if (ring.empty()) return out;
  std::map<std::string, std::unique_ptr<client::Connection>> conns;
  for (const Vnode& v : ring) {
    if (conns.count(v.host) != 0) continue;
    auto c = client::Connection::open(v.host, credentials);
    if (c.ok()) conns.emplace(v.host, std::move(*c));
  }
  // Every request in flight at once; the answers are counted under `mu`.
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = 0;
  for (std::size_t i = 0; i < histories.size(); ++i) {
    const Id hash = Id::hash(histories[i].key);
    auto it = std::lower_bound(ring.begin(), ring.end(), hash,
                               [](const Vnode& v, const Id& h) { return v.id < h; });
    const std::size_t primary = it == ring.end() ? 0 : static_cast<std::size_t>(it - ring.begin());
    std::vector<Vnode> holders{ring[primary]};
    std::set<std::string> hosts{ring[primary].host};
    for (std::size_t k = 1; k < ring.size() && static_cast<int>(holders.size()) <= replicas; ++k) {
      const Vnode& v = ring[(primary + k) % ring.size()];
      if (hosts.insert(v.host).second) holders.push_back(v);
    }
    out[i].expected = static_cast<int>(holders.size());
    if (!finals[i].error.ok()) continue;
    for (std::size_t h = 0; h < holders.size(); ++h) {
      const Vnode holder = holders[h];
      auto conn = conns.find(holder.host);
      const std::string role = h == 0 ? "primary " : "replica ";
      if (conn == conns.end()) {
        out[i].detail += role + holder.host + ": no connection; ";
        continue;
      }
      {
        std::lock_guard lock(mu);
        ++pending;
      }
      conn->second->request_async(
          client::detail::get_item_request(holder, hash, 1, /*replica=*/true), timeout,
          [&, i, holder, role](Result<Message> reply) {
            const client::detail::ReadAnswer a = client::detail::read_get_reply(reply);
            const std::optional<std::string>& want = finals[i].value;
            std::string got;
            bool good = false;
            if (!a.status.ok() || a.next != client::detail::Next::kDone) {
              got = "error " + a.status.to_string();
            } else if (!a.has_copy || a.deleted) {
              good = !want.has_value();
              got = a.has_copy ? "<tombstone>" : "<none>";
            } else {
              good = want.has_value() && *want == a.value;
              got = "\"" + a.value + "\"";
            }
            std::lock_guard lock(mu);
            if (a.has_copy) out[i].newest_ts = std::max(out[i].newest_ts, a.timestamp);
            if (good) {
              ++out[i].good;
            } else {
              out[i].detail += role + holder.host + " has " + got + "; ";
            }
            if (--pending == 0) cv.notify_all();
          });
    }
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  return out;
}

}  // namespace dendrite::faults
