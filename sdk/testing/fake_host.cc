#include "dendrite/testing/fake_host.h"

#include <algorithm>
#include <map>
#include <utility>

namespace dendrite::testing {
namespace {

void sort_ring(std::vector<Vnode>& ring) {
  std::sort(ring.begin(), ring.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
}

// Index of `id` in the sorted `ring`, or ring.size().
std::size_t index_in(const std::vector<Vnode>& ring, const Id& id) {
  for (std::size_t i = 0; i < ring.size(); ++i) {
    if (ring[i].id == id) return i;
  }
  return ring.size();
}

std::string type_text(MessageType type) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[type >> 4] + kDigits[type & 0xf];
}

}  // namespace

FakeHost::FakeHost(std::string address, int vnodes) : address_(std::move(address)) {
  for (int i = 0; i < vnodes; ++i) {
    local_.push_back(Vnode{Id::for_vnode(address_, static_cast<std::uint16_t>(i)), address_});
  }
}

FakeHost::~FakeHost() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  callbacks_cv_.notify_all();
  if (callback_thread_.joinable()) callback_thread_.join();
  services_.clear();
}

void FakeHost::set_replicas(int replicas) {
  std::lock_guard lock(mu_);
  replicas_ = replicas;
}

void FakeHost::set_default_timeout(Milliseconds timeout) {
  std::lock_guard lock(mu_);
  timeout_ = timeout;
}

void FakeHost::set_local_vnodes(std::vector<Vnode> vnodes) {
  std::lock_guard lock(mu_);
  local_ = std::move(vnodes);
}

void FakeHost::set_ring(std::vector<Vnode> ring) {
  sort_ring(ring);
  std::lock_guard lock(mu_);
  ring_ = std::move(ring);
}

void FakeHost::set_num_successors(std::size_t n) {
  std::lock_guard lock(mu_);
  num_successors_ = n;
}

void FakeHost::set_lookup_error(Status error) {
  std::lock_guard lock(mu_);
  lookup_error_ = std::move(error);
}

void FakeHost::set_reply(MessageType type, Result<Message> reply) {
  std::lock_guard lock(mu_);
  replies_.insert_or_assign(type, std::move(reply));
}

void FakeHost::set_responder(Responder responder) {
  std::lock_guard lock(mu_);
  responder_ = std::move(responder);
}

std::vector<FakeHost::Request> FakeHost::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void FakeHost::clear_requests() {
  std::lock_guard lock(mu_);
  requests_.clear();
}

int FakeHost::replicas() const {
  std::lock_guard lock(mu_);
  return replicas_;
}

Milliseconds FakeHost::default_timeout() const {
  std::lock_guard lock(mu_);
  return timeout_;
}

std::vector<Vnode> FakeHost::local_vnodes() const {
  std::lock_guard lock(mu_);
  return local_;
}

std::vector<Vnode> FakeHost::ring_copy() const {
  std::lock_guard lock(mu_);
  if (ring_) return *ring_;
  std::vector<Vnode> ring = local_;
  sort_ring(ring);
  return ring;
}

std::optional<Vnode> FakeHost::predecessor(const Id& vnode) const {
  std::vector<Vnode> ring = ring_copy();
  std::size_t i = index_in(ring, vnode);
  if (i == ring.size()) return std::nullopt;
  return ring[(i + ring.size() - 1) % ring.size()];
}

std::vector<Vnode> FakeHost::successors(const Id& vnode) const {
  std::vector<Vnode> ring = ring_copy();
  std::size_t r;
  {
    std::lock_guard lock(mu_);
    r = num_successors_;
  }
  std::size_t i = index_in(ring, vnode);
  if (i == ring.size()) return {};
  if (ring.size() == 1) return {ring[0]};
  std::vector<Vnode> out;
  for (std::size_t k = 1; k < ring.size() && out.size() < r; ++k) {
    out.push_back(ring[(i + k) % ring.size()]);
  }
  return out;
}

std::vector<Vnode> FakeHost::remote_successors(const Id& vnode) const {
  std::size_t want = static_cast<std::size_t>(std::max(0, replicas()));
  std::vector<Vnode> out;
  for (const Vnode& v : successors(vnode)) {
    if (out.size() >= want) break;
    if (v.host == address_) continue;
    bool seen =
        std::any_of(out.begin(), out.end(), [&](const Vnode& o) { return o.host == v.host; });
    if (!seen) out.push_back(v);
  }
  return out;
}

std::vector<Member> FakeHost::members() const {
  {
    std::lock_guard lock(mu_);
    if (members_) return *members_;
  }
  std::map<std::string, Member> by_host;
  for (const Vnode& v : ring_copy()) {
    Member& m = by_host[v.host];
    m.host = v.host;
    m.vnodes.push_back(v);
  }
  std::vector<Member> out;
  for (auto& [host, m] : by_host) out.push_back(std::move(m));
  return out;
}

void FakeHost::set_members(std::vector<Member> members) {
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.host < b.host; });
  std::lock_guard lock(mu_);
  members_ = std::move(members);
}

PeerDialect FakeHost::peer_dialect(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = dialects_.find(host);
  return it == dialects_.end() ? PeerDialect::kOurs : it->second;
}

void FakeHost::set_dialect(const std::string& host, PeerDialect dialect) {
  std::lock_guard lock(mu_);
  dialects_[host] = dialect;
}

std::vector<Vnode> FakeHost::fingers(const Id& vnode) const {
  std::lock_guard lock(mu_);
  auto it = fingers_.find(vnode);
  return it == fingers_.end() ? std::vector<Vnode>{} : it->second;
}

void FakeHost::set_fingers(const Id& vnode, std::vector<Vnode> fingers) {
  std::lock_guard lock(mu_);
  fingers_[vnode] = std::move(fingers);
}

Result<std::vector<Vnode>> FakeHost::lookup(std::size_t n, const Id& key) {
  {
    std::lock_guard lock(mu_);
    if (!lookup_error_.ok()) return lookup_error_;
  }
  std::vector<Vnode> ring = ring_copy();
  if (ring.empty()) return Status::Unavailable("fake host: the ring is empty");
  // The owner is the first vnode at or after `key`, wrapping past the top.
  std::size_t owner = 0;
  while (owner < ring.size() && ring[owner].id < key) ++owner;
  if (owner == ring.size()) owner = 0;
  std::vector<Vnode> out;
  for (std::size_t k = 0; k < ring.size() && out.size() < n; ++k) {
    out.push_back(ring[(owner + k) % ring.size()]);
  }
  return out;
}

Result<Message> FakeHost::answer(const std::string& host, const Message& request) {
  Responder responder;
  {
    std::lock_guard lock(mu_);
    auto it = replies_.find(request.type);
    if (it != replies_.end()) return it->second;
    responder = responder_;
  }
  if (responder) return responder(host, request);
  return Status::Unavailable("fake host: no reply for type " + type_text(request.type) + " to " +
                             host);
}

Result<Message> FakeHost::request(const std::string& host, const Message& request,
                                  Milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    requests_.push_back(Request{host, request, timeout, false});
  }
  return answer(host, request);
}

void FakeHost::request_async(const std::string& host, Message request, Milliseconds timeout,
                             ReplyCallback done) {
  std::lock_guard lock(mu_);
  requests_.push_back(Request{host, request, timeout, true});
  callbacks_.push_back([this, host, request = std::move(request), done = std::move(done)] {
    done(answer(host, request));
  });
  if (!callback_thread_.joinable()) callback_thread_ = std::thread([this] { callback_loop(); });
  callbacks_cv_.notify_one();
}

void FakeHost::callback_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    callbacks_cv_.wait(lock, [this] { return stopping_ || !callbacks_.empty(); });
    if (callbacks_.empty()) return;  // stopping, and every callback ran
    std::function<void()> next = std::move(callbacks_.front());
    callbacks_.pop_front();
    lock.unlock();
    next();
    next = nullptr;  // release captures outside the lock
    lock.lock();
  }
}

Status FakeHost::publish_service(std::string name, std::shared_ptr<void> service) {
  return services_.publish(std::move(name), std::move(service));
}

Result<std::shared_ptr<void>> FakeHost::find_service(std::string_view name) const {
  return services_.find(name);
}

void RecordingLogger::log(LogLevel, std::string_view line) {
  {
    std::lock_guard lock(mu_);
    lines_.emplace_back(line);
  }
  if (sink_) sink_(prefix_ + std::string(line));
}

std::vector<std::string> RecordingLogger::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

}  // namespace dendrite::testing
