#include "dendrite/client/dtable_client.h"

#include <algorithm>
#include <future>
#include <set>

#include "dendrite/address.h"
#include "dtable_core.h"
#include "dtable_ops.h"
#include "dtable_wire.h"

namespace dendrite::client {

using detail::DtableCore;

Result<std::unique_ptr<DtableClient>> DtableClient::connect(const std::string& node,
                                                            DtableClientOptions options) {
  if (Status s = check_peer_address(node); !s.ok()) return s;
  if (options.timeout.count() <= 0) {
    return Status::InvalidArgument("the timeout must be positive");
  }
  if (options.max_attempts < 1) {
    return Status::InvalidArgument("max_attempts must be at least 1");
  }
  if (options.retry_backoff.count() < 0) {
    return Status::InvalidArgument("retry_backoff must not be negative");
  }
  auto core = std::make_unique<DtableCore>(node, options);
  core->start();
  if (Status s = core->refresh(); !s.ok()) return s;  // ~DtableCore closes it
  return std::unique_ptr<DtableClient>(new DtableClient(std::move(core)));
}

DtableClient::DtableClient(std::unique_ptr<DtableCore> core) : core_(std::move(core)) {}

DtableClient::~DtableClient() {
  core_->close();
}

const std::string& DtableClient::node() const {
  return core_->seed();
}

int DtableClient::max_consistency() const {
  auto view = core_->view();
  return (view ? view->replicas : 0) + 1;
}

std::vector<Vnode> DtableClient::ring() const {
  auto view = core_->view();
  return view ? view->vnodes : std::vector<Vnode>();
}

Vnode DtableClient::primary_of(std::string_view key) const {
  auto view = core_->view();
  return view->vnodes[view->owner_index(Id::hash(key))];
}

Status DtableClient::refresh() {
  return core_->refresh();
}

DtableClientStats DtableClient::stats() const {
  return core_->stats();
}

// ---- asynchronous calls ----

void DtableClient::set_async(std::string key, std::string value, int consistency,
                             StatusCallback done) {
  Status s = detail::check_key(key);
  if (s.ok()) s = detail::check_consistency(*core_, consistency);
  if (!s.ok()) return done(s);
  detail::start_write(*core_, std::move(key), std::move(value), false, consistency,
                      std::move(done));
}

void DtableClient::del_async(std::string key, int consistency, StatusCallback done) {
  Status s = detail::check_key(key);
  if (s.ok()) s = detail::check_consistency(*core_, consistency);
  if (!s.ok()) return done(s);
  detail::start_write(*core_, std::move(key), "", true, consistency, std::move(done));
}

void DtableClient::get_async(std::string key, int consistency, ValueCallback done) {
  get_entry_async(std::move(key), consistency,
                  [done = std::move(done)](Result<dtable::ValueWithExpiry> entry) {
                    done(detail::value_only(std::move(entry)));
                  });
}

void DtableClient::get_entry_async(std::string key, int consistency, EntryCallback done) {
  Status s = detail::check_key(key);
  if (s.ok()) s = detail::check_consistency(*core_, consistency);
  if (!s.ok()) return done(s);
  detail::start_get(*core_, std::move(key), consistency, std::move(done));
}

void DtableClient::mutate_async(std::string key, dtable::Mutation m, int consistency,
                                MutationCallback done) {
  Status s = detail::check_key(key);
  if (s.ok()) s = detail::check_consistency(*core_, consistency);
  if (!s.ok()) return done(s);
  detail::start_mutate(*core_, std::move(key), std::move(m), consistency, std::move(done));
}

void DtableClient::set_multi_async(std::vector<KeyValue> items, int consistency,
                                   StatusesCallback done) {
  if (Status s = detail::check_consistency(*core_, consistency); !s.ok()) {
    return done(std::vector<Status>(items.size(), s));
  }
  // Items with an empty key fail alone; the others go out as a batch.
  std::vector<Status> results(items.size());
  std::vector<std::size_t> index;  // batch position -> items position
  std::vector<KeyValue> batch;
  for (std::size_t i = 0; i < items.size(); ++i) {
    results[i] = detail::check_key(items[i].key);
    if (!results[i].ok()) continue;
    index.push_back(i);
    batch.push_back(std::move(items[i]));
  }
  if (index.size() == items.size()) {
    return detail::start_set_multi(*core_, std::move(batch), consistency, std::move(done));
  }
  detail::start_set_multi(*core_, std::move(batch), consistency,
                          [results = std::move(results), index = std::move(index),
                           done = std::move(done)](std::vector<Status> got) mutable {
                            for (std::size_t k = 0; k < index.size(); ++k)
                              results[index[k]] = std::move(got[k]);
                            done(std::move(results));
                          });
}

void DtableClient::get_multi_async(std::vector<std::string> keys, int consistency,
                                   ValuesCallback done) {
  if (Status s = detail::check_consistency(*core_, consistency); !s.ok()) {
    return done(std::vector<Result<std::string>>(keys.size(), s));
  }
  std::vector<Result<std::string>> results(keys.size(), Status::InvalidArgument("unset"));
  std::vector<std::size_t> index;
  std::vector<std::string> batch;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (Status s = detail::check_key(keys[i]); !s.ok()) {
      results[i] = s;
      continue;
    }
    index.push_back(i);
    batch.push_back(std::move(keys[i]));
  }
  if (index.size() == keys.size()) {
    return detail::start_get_multi(*core_, std::move(batch), consistency, std::move(done));
  }
  detail::start_get_multi(*core_, std::move(batch), consistency,
                          [results = std::move(results), index = std::move(index),
                           done = std::move(done)](std::vector<Result<std::string>> got) mutable {
                            for (std::size_t k = 0; k < index.size(); ++k)
                              results[index[k]] = std::move(got[k]);
                            done(std::move(results));
                          });
}

// ---- blocking calls: the asynchronous ones, waited for ----

namespace {

template <typename T>
struct Waiter {
  std::promise<T> promise;
  std::future<T> future = promise.get_future();
  auto callback() {
    return [this](T value) { promise.set_value(std::move(value)); };
  }
};

}  // namespace

Status DtableClient::set(std::string_view key, std::string_view value, int consistency) {
  Waiter<Status> w;
  set_async(std::string(key), std::string(value), consistency, w.callback());
  return w.future.get();
}

Result<dtable::MutationResult> DtableClient::mutate(std::string_view key, const dtable::Mutation& m,
                                                    int consistency) {
  Waiter<Result<dtable::MutationResult>> w;
  mutate_async(std::string(key), m, consistency, w.callback());
  return w.future.get();
}

Result<std::string> DtableClient::get(std::string_view key, int consistency) {
  Waiter<Result<std::string>> w;
  get_async(std::string(key), consistency, w.callback());
  return w.future.get();
}

Result<dtable::ValueWithExpiry> DtableClient::get_entry(std::string_view key, int consistency) {
  Waiter<Result<dtable::ValueWithExpiry>> w;
  get_entry_async(std::string(key), consistency, w.callback());
  return w.future.get();
}

Status DtableClient::del(std::string_view key, int consistency) {
  Waiter<Status> w;
  del_async(std::string(key), consistency, w.callback());
  return w.future.get();
}

std::vector<Status> DtableClient::set_multi(const std::vector<KeyValue>& items, int consistency) {
  Waiter<std::vector<Status>> w;
  set_multi_async(items, consistency, w.callback());
  return w.future.get();
}

std::vector<Result<std::string>> DtableClient::get_multi(const std::vector<std::string>& keys,
                                                         int consistency) {
  Waiter<std::vector<Result<std::string>>> w;
  get_multi_async(keys, consistency, w.callback());
  return w.future.get();
}

Result<std::vector<std::string>> DtableClient::local_keys(const std::string& node) {
  const std::string host = node.empty() ? core_->seed() : node;
  if (Status s = check_peer_address(host); !s.ok()) return s;
  auto keys = detail::list_host_keys(*core_, host);
  if (!keys.ok()) return keys.status();
  std::sort(keys->begin(), keys->end());
  return keys;
}

Status DtableClient::backup(const std::string& dir, const std::string& node) {
  const std::string host = node.empty() ? core_->seed() : node;
  if (Status s = check_peer_address(host); !s.ok()) return s;
  auto replies = core_->call_all({{host, detail::checkpoint_request(dir)}});
  return detail::read_write_reply(replies[0]).status;
}

Result<std::vector<std::string>> DtableClient::keys() {
  if (Status s = core_->refresh(); !s.ok()) return s;
  std::set<std::string> hosts;
  for (const Vnode& v : core_->view()->vnodes) hosts.insert(v.host);
  std::set<std::string> all;  // a key moving between hosts may be listed twice
  for (const std::string& host : hosts) {
    auto keys = detail::list_host_keys(*core_, host);
    if (!keys.ok()) {
      if (keys.status().code() == StatusCode::kRemoteError) {
        // An original node serves no LocalKeys: say so rather than omit its keys.
        return Status::Unavailable(
            "cannot list the keys of " + host +
            " (an original node has no key listing): " + keys.status().message());
      }
      return Status(keys.status().code(), host + ": " + keys.status().message());
    }
    all.insert(std::make_move_iterator(keys->begin()), std::make_move_iterator(keys->end()));
  }
  return std::vector<std::string>(all.begin(), all.end());
}

}  // namespace dendrite::client
