#include "context.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <thread>

#include "await.h"
#include "dendrite/dtable/messages.h"

namespace dendrite::dtable {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void VnodeState::settle_for(Milliseconds d) {
  const std::int64_t until =
      steady_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  std::int64_t cur = settle_until.load();
  while (until > cur && !settle_until.compare_exchange_weak(cur, until)) {
  }
}

bool VnodeState::settling() const {
  return steady_ns() < settle_until.load();
}

HookId WriteHooks::add(WriteHook hook) {
  auto slot = std::make_shared<Slot>();
  slot->hook = std::move(hook);
  std::lock_guard lock(mu_);
  slot->id = next_++;
  auto next = std::make_shared<List>(*list_);
  next->push_back(slot);
  list_ = std::move(next);
  size_.store(list_->size(), std::memory_order_release);
  return slot->id;
}

void WriteHooks::retire(const std::shared_ptr<Slot>& slot) {
  // A call that saw the slot active before this finishes first; later ones skip it.
  slot->active.store(false);
  while (slot->running.load() > 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

void WriteHooks::remove(HookId id) {
  std::shared_ptr<Slot> gone;
  {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<List>();
    for (const auto& slot : *list_) {
      if (slot->id == id) {
        gone = slot;
      } else {
        next->push_back(slot);
      }
    }
    list_ = std::move(next);
    size_.store(list_->size(), std::memory_order_release);
  }
  if (gone) retire(gone);
}

void WriteHooks::clear() {
  std::shared_ptr<const List> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(list_);
    list_ = std::make_shared<List>();
    size_.store(0, std::memory_order_release);
  }
  for (const auto& slot : *old) retire(slot);
}

bool WriteHooks::empty() const {
  return size_.load(std::memory_order_acquire) == 0;
}

void WriteHooks::call(const WriteEvent& event, Logger& log) const {
  std::shared_ptr<const List> snapshot;
  {
    std::lock_guard lock(mu_);
    snapshot = list_;
  }
  for (const auto& slot : *snapshot) {
    slot->running.fetch_add(1);
    if (slot->active.load()) {
      try {
        slot->hook(event);
      } catch (const std::exception& e) {
        log.error("write hook " + std::to_string(slot->id) + " threw: " + e.what());
      } catch (...) {
        log.error("write hook " + std::to_string(slot->id) + " threw");
      }
    }
    slot->running.fetch_sub(1);
  }
}

Context::Context(Host& h, Logger& l, Settings s, std::shared_ptr<HybridClock> c,
                 std::shared_ptr<Journal> journal)
    : host(h),
      log(l),
      settings(s),
      clock(std::move(c)),
      stats(h.metrics()),
      placement(h, std::chrono::milliseconds(250)),
      timeout_(h.default_timeout()),
      replicas_(h.replicas()),
      journal_(std::move(journal)) {
  std::uint16_t index = 0;
  for (const Vnode& v : host.local_vnodes()) {
    vnodes_.push_back(std::make_unique<VnodeState>(v, journal_.get(), index++));
  }
  if (journal_) {
    std::vector<Store*> stores;
    for (const auto& v : vnodes_) {
      stores.push_back(&v->primary);
      stores.push_back(&v->replica);
    }
    cache_ =
        std::make_unique<EntryCache>((settings.storage.cache_mb << 20) / 4 * 3, std::move(stores));
  }
}

Status Context::load_tables() {
  const std::int64_t now = clock->age_now();
  std::size_t room = cache_ ? cache_->budget_bytes() : SIZE_MAX;
  for (const auto& v : vnodes_) {
    for (Store* t : {&v->primary, &v->replica}) {
      if (Status s = t->load(now, room); !s.ok()) return s;
      if (room != SIZE_MAX) room -= std::min(room, t->resident_bytes());
    }
  }
  return Status::Ok();
}

void Context::start_cache() {
  if (cache_) cache_->start();
}

void Context::stop_cache() {
  if (cache_) cache_->stop();
}

void Context::after_durable(std::function<void(Status)> done) {
  if (!journal_) return done(Status::Ok());
  journal_->after_sync([self = shared_from_this(), done = std::move(done)](Status s) {
    if (!s.ok()) {
      if (!self->storage_failing_.exchange(true)) self->log.error(s.message());
    } else if (self->storage_failing_.exchange(false)) {
      self->log.info("storage: writes are recorded again under " + self->journal_->path());
    }
    done(std::move(s));
  });
}

Status Context::storage_error() const {
  return journal_ ? journal_->error() : Status::Ok();
}

VnodeState* Context::local(const Id& id) const {
  for (const auto& v : vnodes_) {
    if (v->self.id == id) return v.get();
  }
  return nullptr;
}

std::optional<bool> Context::owns(const VnodeState& v, const Id& hash) const {
  auto pred = host.predecessor(v.self.id);
  if (!pred) return std::nullopt;
  return between(pred->id, v.self.id, hash, /*right_inclusive=*/true);
}

VnodeState* Context::nearest_local(const Id& hash) const {
  VnodeState* first = nullptr;
  Id nearest;
  for (const auto& v : vnodes_) {
    const Id d = distance(hash, v->self.id);
    if (first == nullptr || d < nearest) {
      first = v.get();
      nearest = d;
    }
  }
  return first;
}

VnodeState* Context::owner_for(const Id& hash, VnodeState* asked) const {
  VnodeState* v = nearest_local(hash);
  if (v != nullptr && owns(*v, hash).value_or(false)) return v;
  if (asked != nullptr && !owns(*asked, hash).has_value()) return asked;
  return nullptr;
}

std::optional<Vnode> Context::owner_hint(const Id& hash) const {
  // Of every (vnode, successor) gap that holds `hash` in the local successor
  // lists, the one that starts closest before it: the most precise knowledge.
  std::optional<Vnode> best;
  std::optional<Id> best_gap;
  for (const auto& v : vnodes_) {
    Id prev = v->self.id;
    for (const Vnode& s : host.successors(v->self.id)) {
      if (between(prev, s.id, hash, true)) {
        const Id gap = distance(prev, hash);
        if (!best_gap || gap < *best_gap) {
          best = s;
          best_gap = gap;
        }
        break;
      }
      prev = s.id;
    }
  }
  return best;
}

void Context::request_hand_over(const Id& v) {
  std::lock_guard lock(hand_over_mu_);
  if (hand_over_receiver_) hand_over_receiver_(v);
}

void Context::set_hand_over_receiver(std::function<void(const Id&)> receiver) {
  std::lock_guard lock(hand_over_mu_);
  hand_over_receiver_ = std::move(receiver);
}

bool Context::any_outside(const VnodeState& v, const std::vector<Item>& items) const {
  auto pred = host.predecessor(v.self.id);
  if (!pred || pred->id == v.self.id) return false;
  return std::any_of(items.begin(), items.end(), [&](const Item& item) {
    return !between(pred->id, v.self.id, item.hash, /*right_inclusive=*/true);
  });
}

std::string Context::wrong_owner_text(const Id& hash, const Vnode& asked) const {
  std::string text =
      std::string(kWrongOwnerText) + ": " + hash.hex() + " is not owned by " + asked.id.hex();
  if (auto hint = owner_hint(hash)) text += "; owner " + hint->id.hex() + " " + hint->host;
  return text;
}

void Context::send_async(const std::string& to, Message request, ReplyCallback done,
                         Milliseconds limit) {
  if (!gate.enter()) {
    done(Status::Unavailable("dtable is stopping"));
    return;
  }
  auto self = shared_from_this();
  host.request_async(to, std::move(request), limit.count() > 0 ? limit : timeout(),
                     [self, done = std::move(done)](Result<Message> reply) {
                       done(std::move(reply));
                       self->gate.leave();
                     });
}

void Context::call_all_async(std::vector<std::pair<std::string, Message>> requests, AllDone done,
                             Milliseconds limit) {
  if (requests.empty()) return done({});
  struct Shared {
    std::mutex mu;
    std::vector<std::optional<Result<Message>>> results;  // GUARDED_BY(mu)
    std::size_t left = 0;                                 // GUARDED_BY(mu)
    AllDone done;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.resize(requests.size());
  shared->left = requests.size();
  shared->done = std::move(done);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    send_async(
        requests[i].first, std::move(requests[i].second),
        [shared, i](Result<Message> r) {
          {
            std::lock_guard lock(shared->mu);
            shared->results[i].emplace(std::move(r));
            if (--shared->left != 0) return;
          }
          // The last answer: nobody else touches the results any more.
          std::vector<Result<Message>> out;
          out.reserve(shared->results.size());
          for (auto& x : shared->results) out.push_back(std::move(*x));
          shared->done(std::move(out));
        },
        limit);
  }
}

std::vector<Result<Message>> Context::call_all(
    std::vector<std::pair<std::string, Message>> requests, Milliseconds limit) {
  return await<std::vector<Result<Message>>>(
      [&](AllDone done) { call_all_async(std::move(requests), std::move(done), limit); });
}

Result<Message> Context::call(const std::string& to, const Message& request, Milliseconds limit) {
  GateGuard guard(gate);
  if (!guard.entered()) return Status::Unavailable("dtable is stopping");
  return host.request(to, request, limit.count() > 0 ? limit : timeout());
}

Result<Message> Context::call_in_turn(const std::string& to, Message request, Milliseconds limit) {
  if (host.peer_dialect(to) == PeerDialect::kOurs) return call(to, request, limit);
  auto self = shared_from_this();
  return await<Result<Message>>([&](std::function<void(Result<Message>)> done) {
    original_lanes.run(to, [self, to, limit, request = std::move(request),
                            done](OriginalLanes::Finished finished) mutable {
      self->send_async(
          to, std::move(request),
          [done, finished](Result<Message> reply) {
            done(std::move(reply));
            finished();
          },
          limit);
    });
  });
}

}  // namespace dendrite::dtable
