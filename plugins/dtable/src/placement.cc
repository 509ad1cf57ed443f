#include "placement.h"

#include <algorithm>

namespace dendrite::dtable {

std::vector<std::string> Layout::holders(const Id& key, int n) const {
  std::vector<std::string> out;
  if (vnodes.empty() || n <= 0) return out;
  auto it = std::lower_bound(vnodes.begin(), vnodes.end(), key,
                             [](const Vnode& v, const Id& k) { return v.id < k; });
  std::size_t k = static_cast<std::size_t>(it - vnodes.begin()) % vnodes.size();
  for (std::size_t step = 0; step < vnodes.size() && static_cast<int>(out.size()) < n; ++step) {
    const std::string& h = vnodes[(k + step) % vnodes.size()].host;
    if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
  }
  return out;
}

bool Layout::reachable(const std::string& host) const {
  return !std::binary_search(unreachable.begin(), unreachable.end(), host);
}

Layout make_layout(const std::vector<Member>& members) {
  Layout l;
  for (const Member& m : members) {
    l.vnodes.insert(l.vnodes.end(), m.vnodes.begin(), m.vnodes.end());
    if (!m.reachable) l.unreachable.push_back(m.host);
  }
  std::sort(l.vnodes.begin(), l.vnodes.end(),
            [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  l.vnodes.erase(std::unique(l.vnodes.begin(), l.vnodes.end(),
                             [](const Vnode& a, const Vnode& b) { return a.id == b.id; }),
                 l.vnodes.end());
  std::sort(l.unreachable.begin(), l.unreachable.end());
  l.complete = !l.vnodes.empty();
  return l;
}

Placement::Placement(Host& host, std::chrono::milliseconds max_age)
    : host_(host), max_age_(max_age) {}

std::shared_ptr<const Layout> Placement::layout() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (layout_ && now - built_ < max_age_) return layout_;
  }
  auto fresh = std::make_shared<const Layout>(make_layout(host_.members()));
  std::lock_guard lock(mu_);
  layout_ = std::move(fresh);
  built_ = now;
  return layout_;
}

}  // namespace dendrite::dtable
