#include "support/mem_network.h"

#include <utility>

namespace dendrite::test {

class MemNetwork::Endpoint final : public host::Network {
 public:
  Endpoint(MemNetwork& net, std::string address) : net_(net), address_(std::move(address)) {}

  const std::string& address() const override { return address_; }

  void call_async(const std::string& host, Message request, Milliseconds,
                  ReplyCallback done) override {
    done(net_.deliver(address_, host, request));
  }

  Result<Message> call(const std::string& host, const Message& request, Milliseconds) override {
    return net_.deliver(address_, host, request);
  }

 private:
  MemNetwork& net_;
  const std::string address_;
};

MemNetwork::MemNetwork() = default;
MemNetwork::~MemNetwork() = default;

void MemNetwork::add(const std::string& address, Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  hosts_[address] = Entry{std::make_shared<Handler>(std::move(handler)), StatusCode::kOk};
}

void MemNetwork::kill(const std::string& address, StatusCode code) {
  std::lock_guard<std::mutex> lock(mu_);
  hosts_[address].failure = code == StatusCode::kOk ? StatusCode::kUnavailable : code;
}

void MemNetwork::revive(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(address);
  if (it != hosts_.end()) it->second.failure = StatusCode::kOk;
}

void MemNetwork::remove(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  hosts_.erase(address);
}

void MemNetwork::cut(const std::string& from, const std::string& to, bool deliver) {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_[{from, to}] = deliver;
}

void MemNetwork::heal() {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_.clear();
}

void MemNetwork::set_side(const std::string& address, int side) {
  std::lock_guard<std::mutex> lock(mu_);
  sides_[address] = side;
}

void MemNetwork::clear_sides() {
  std::lock_guard<std::mutex> lock(mu_);
  sides_.clear();
}

bool MemNetwork::alive(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(address);
  return it != hosts_.end() && it->second.handler && it->second.failure == StatusCode::kOk;
}

host::Network& MemNetwork::endpoint(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = endpoints_[address];
  if (!slot) slot = std::make_unique<Endpoint>(*this, address);
  return *slot;
}

Result<Message> MemNetwork::deliver(const std::string& from, const std::string& to,
                                    const Message& request) {
  calls_.fetch_add(1);
  by_type_[request.type].fetch_add(1);
  std::shared_ptr<Handler> handler;
  bool lose_reply = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto src = hosts_.find(from);
    if (src != hosts_.end() && src->second.failure != StatusCode::kOk) {
      return Status(src->second.failure, from + " is down");
    }
    auto it = hosts_.find(to);
    if (it == hosts_.end() || !it->second.handler) {
      return Status::Unavailable("no host at " + to);
    }
    if (it->second.failure != StatusCode::kOk) {
      return Status(it->second.failure, to + " is down");
    }
    handler = it->second.handler;
    if (!sides_.empty()) {
      auto a = sides_.find(from), b = sides_.find(to);
      if (a != sides_.end() && b != sides_.end() && a->second != b->second) {
        return Status::Timeout(to + " is on the other side of a partition from " + from);
      }
    }
    auto cut = cuts_.find({from, to});
    if (cut != cuts_.end()) {
      if (!cut->second) return Status::Timeout(to + " is cut off from " + from);
      lose_reply = true;
    }
  }
  Message reply = (*handler)(request);
  if (lose_reply) return Status::Timeout("the answer of " + to + " to " + from + " was lost");
  return reply;
}

}  // namespace dendrite::test
