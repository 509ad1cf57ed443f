#include "dtable_core.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "chord.pb.h"
#include "dendrite/client/ring_view.h"

namespace dendrite::client::detail {
namespace {

// Bounds of one ring refresh: rounds of status requests (each round asks the
// hosts the previous one named for the first time).
constexpr int kMaxRefreshRounds = 64;
constexpr Milliseconds kMaxBackoff{1000};

// The status document in a HostStatusReply.
Result<nlohmann::json> status_document(const std::string& host, const Result<Message>& reply) {
  if (!reply.ok()) return reply.status();
  if (Status err = error_of(*reply); !err.ok()) return err;
  auto decoded = unpack<PBHostStatusReply>(*reply, msg::kHostStatusReply);
  if (!decoded.ok()) return Status::Internal("bad status reply from " + host);
  nlohmann::json doc = nlohmann::json::parse(decoded->json(), nullptr, false);
  if (!doc.is_object()) return Status::Internal("bad status reply from " + host + ": not JSON");
  return doc;
}

}  // namespace

std::size_t RingSnapshot::owner_index(const Id& hash) const {
  auto it = std::lower_bound(vnodes.begin(), vnodes.end(), hash,
                             [](const Vnode& v, const Id& h) { return v.id < h; });
  return it == vnodes.end() ? 0 : static_cast<std::size_t>(it - vnodes.begin());
}

std::vector<Vnode> RingSnapshot::replicas_of(std::size_t primary) const {
  std::vector<Vnode> out;
  std::set<std::string> hosts{vnodes[primary].host};
  for (std::size_t k = 1; k < vnodes.size() && static_cast<int>(out.size()) < replicas; ++k) {
    const Vnode& v = vnodes[(primary + k) % vnodes.size()];
    if (hosts.insert(v.host).second) out.push_back(v);
  }
  return out;
}

DtableCore::DtableCore(std::string seed, DtableClientOptions options)
    : seed_(std::move(seed)), options_(options) {}

DtableCore::~DtableCore() {
  close();
}

void DtableCore::start() {
  worker_ = std::thread([this] { run(); });
}

void DtableCore::close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  // The worker runs what is queued (those tasks now fail at once) and exits.
  if (worker_.joinable()) worker_.join();
  std::map<std::string, std::shared_ptr<Connection>> conns;
  std::shared_ptr<ConnectionLoop> loop;
  {
    std::unique_lock lock(mu_);
    // Requests on the wire end within one timeout each (Connection expires them).
    cv_.wait(lock, [&] { return in_flight_ == 0; });
    conns.swap(conns_);
    loop.swap(loop_);
  }
  conns.clear();  // nothing of ours runs on their loop's thread any more
  loop.reset();   // its thread stops with the last connection
}

bool DtableCore::closing() const {
  std::lock_guard lock(mu_);
  return closing_;
}

std::shared_ptr<const RingSnapshot> DtableCore::view() const {
  std::lock_guard lock(mu_);
  return view_;
}

Milliseconds DtableCore::backoff(int attempt) const {
  Milliseconds d = options_.retry_backoff;
  for (int i = 2; i < attempt && d < kMaxBackoff; ++i) d *= 2;
  return std::min(d, kMaxBackoff);
}

DtableClientStats DtableCore::stats() const {
  DtableClientStats s;
  s.requests = n_requests.load(std::memory_order_relaxed);
  s.retries = n_retries.load(std::memory_order_relaxed);
  s.wrong_owner = n_wrong_owner.load(std::memory_order_relaxed);
  s.no_answer = n_no_answer.load(std::memory_order_relaxed);
  s.replica_reads = n_replica_reads.load(std::memory_order_relaxed);
  s.refreshes = n_refreshes.load(std::memory_order_relaxed);
  return s;
}

Result<std::shared_ptr<Connection>> DtableCore::connection(const std::string& host) {
  std::lock_guard lock(mu_);
  if (closing_) return Status::Unavailable("client closed");
  auto it = conns_.find(host);
  if (it != conns_.end()) return it->second;
  // One loop serves every node's connection, so a callback of one connection
  // sends on another without a thread wake-up.
  if (!loop_) {
    auto loop = ConnectionLoop::start();
    if (!loop.ok()) return loop.status();
    loop_ = std::move(loop).value();
  }
  // Opening connects lazily (no network wait).
  auto opened = Connection::open(host, loop_, options_.credentials);
  if (!opened.ok()) return opened.status();
  std::shared_ptr<Connection> conn = std::move(opened).value();
  conns_.emplace(host, conn);
  return conn;
}

void DtableCore::send(const std::string& host, Message request, ReplyCallback done) {
  auto conn = connection(host);
  if (!conn.ok()) {
    done(conn.status());
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      conn = Status::Unavailable("client closed");
    } else {
      ++in_flight_;
    }
  }
  if (!conn.ok()) {
    done(conn.status());
    return;
  }
  n_requests.fetch_add(1, std::memory_order_relaxed);
  (*conn)->request_async(std::move(request), options_.timeout,
                         [this, done = std::move(done)](Result<Message> reply) {
                           if (!reply.ok()) n_no_answer.fetch_add(1, std::memory_order_relaxed);
                           done(std::move(reply));
                           std::lock_guard lock(mu_);
                           if (--in_flight_ == 0) cv_.notify_all();
                         });
}

std::vector<Result<Message>> DtableCore::call_all(
    const std::vector<std::pair<std::string, Message>>& requests) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::optional<Result<Message>>> results;
    std::size_t left = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.resize(requests.size());
  shared->left = requests.size();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    send(requests[i].first, requests[i].second, [shared, i](Result<Message> reply) {
      std::lock_guard lock(shared->mu);
      shared->results[i] = std::move(reply);
      if (--shared->left == 0) shared->cv.notify_all();
    });
  }
  std::unique_lock lock(shared->mu);
  shared->cv.wait(lock, [&] { return shared->left == 0; });
  std::vector<Result<Message>> out;
  out.reserve(requests.size());
  for (auto& r : shared->results) out.push_back(std::move(*r));
  return out;
}

Status DtableCore::refresh() {
  std::vector<std::string> frontier{seed_};
  {
    std::lock_guard lock(mu_);
    if (closing_) return Status::Unavailable("client closed");
    last_refresh_start_ = SteadyClock::now();
    if (view_) {
      for (const Vnode& v : view_->vnodes) {
        if (std::find(frontier.begin(), frontier.end(), v.host) == frontier.end()) {
          frontier.push_back(v.host);
        }
      }
    }
  }
  std::set<std::string> asked;
  std::map<Id, Vnode> vnodes;
  std::optional<int> replicas;
  std::optional<Status> first_error;
  std::map<Id, Vnode> named;        // every successor the documents name
  std::set<std::string> originals;  // hosts that answered HostStatus with Err
  bool any = false;
  for (int round = 0; round < kMaxRefreshRounds && !frontier.empty(); ++round) {
    std::vector<std::pair<std::string, Message>> requests;
    for (const std::string& host : frontier) {
      asked.insert(host);
      requests.emplace_back(host, pack(msg::kHostStatus, PBHostStatusRequest()));
    }
    const auto replies = call_all(requests);
    std::vector<std::string> next;
    for (std::size_t i = 0; i < replies.size(); ++i) {
      const std::string& host = frontier[i];
      auto doc = status_document(host, replies[i]);
      auto parsed = doc.ok() ? parse_vnodes(*doc) : Result<std::vector<VnodeStatus>>(doc.status());
      if (!parsed.ok()) {
        // An original node answers HostStatus with Err; its vnodes are known
        // from the successor lists of the others.
        if (!doc.ok() && doc.status().code() == StatusCode::kRemoteError) originals.insert(host);
        if (!first_error) first_error = parsed.status();
        continue;
      }
      any = true;
      if (!replicas) {
        auto config = doc->find("config");
        if (config != doc->end() && config->is_object()) {
          auto r = config->find("replicas");
          if (r != config->end() && r->is_number_integer()) replicas = r->get<int>();
        }
      }
      for (const VnodeStatus& v : *parsed) {
        vnodes.emplace(v.self.id, v.self);
        for (const Vnode& s : v.successors) {
          named.emplace(s.id, s);
          if (!asked.contains(s.host) &&
              std::find(next.begin(), next.end(), s.host) == next.end()) {
            next.push_back(s.host);
          }
        }
      }
    }
    frontier.swap(next);
  }
  for (auto& [id, v] : named) {
    if (originals.contains(v.host)) vnodes.emplace(id, v);
  }
  if (!any || vnodes.empty()) {
    if (first_error) return *first_error;
    return Status::Unavailable("no node of the ring answers");
  }
  auto snapshot = std::make_shared<RingSnapshot>();
  for (auto& [id, v] : vnodes) snapshot->vnodes.push_back(std::move(v));  // sorted by id
  snapshot->replicas = std::max(0, replicas.value_or(2));
  {
    std::lock_guard lock(mu_);
    view_ = std::move(snapshot);
  }
  n_refreshes.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

void DtableCore::request_refresh(SteadyClock::time_point since) {
  {
    std::lock_guard lock(mu_);
    if (closing_ || last_refresh_start_ > since) return;
    refresh_wanted_ = true;
  }
  cv_.notify_all();
}

bool DtableCore::schedule(Milliseconds delay, std::optional<SteadyClock::time_point> refresh_since,
                          std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (closing_) return false;
    if (refresh_since && last_refresh_start_ <= *refresh_since) refresh_wanted_ = true;
    timers_.emplace(SteadyClock::now() + delay, std::move(task));
  }
  cv_.notify_all();
  return true;
}

void DtableCore::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (closing_) {
      if (timers_.empty()) return;
    } else if (refresh_wanted_) {
      refresh_wanted_ = false;
      lock.unlock();
      // A failed refresh keeps the old view; the retries then fail or try again.
      (void)refresh();
      lock.lock();
      continue;
    }
    const auto now = SteadyClock::now();
    if (!closing_ && (timers_.empty() || timers_.begin()->first > now)) {
      if (timers_.empty()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, timers_.begin()->first);
      }
      continue;
    }
    // Due tasks (every task when closing: each then fails at once).
    std::vector<std::function<void()>> due;
    while (!timers_.empty() && (closing_ || timers_.begin()->first <= now)) {
      due.push_back(std::move(timers_.begin()->second));
      timers_.erase(timers_.begin());
    }
    lock.unlock();
    for (auto& task : due) task();
    due.clear();
    lock.lock();
  }
}

}  // namespace dendrite::client::detail
