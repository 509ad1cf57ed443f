#include "support/original_strict_peer.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include <zmq.hpp>

#include "chord.pb.h"
#include "dendrite/dtable/messages.h"
#include "dtable.pb.h"
#include "support/child_process.h"

namespace dendrite::test {
namespace {

namespace dmsg = dtable::msg;
using Action = OriginalVerdict::Action;

std::string hex_of(const std::string& bytes) {
  std::string out;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

OriginalVerdict serve(std::string violation = {}) {
  return OriginalVerdict{Action::kServe, {}, std::move(violation)};
}
OriginalVerdict refuse(std::string error, std::string violation = {}) {
  return OriginalVerdict{Action::kRefuse, std::move(error), std::move(violation)};
}
OriginalVerdict wedge(std::string violation) {
  return OriginalVerdict{Action::kWedge, {}, std::move(violation)};
}

// Parses `m` as the original does: every required field must be there.
template <typename Pb>
bool decodes(const Message& m, Pb& out) {
  return out.ParseFromString(m.payload);
}

// Served when `m` decodes as a Pb, else refused as the original refuses it.
template <typename Pb>
OriginalVerdict served_if_decoded(const Message& m) {
  Pb req;
  if (!decodes(m, req)) return refuse("Failed to decode request", "lacks a required field");
  return serve();
}

OriginalVerdict judge_set_item(const Message& m, int replicas) {
  ::dtable::PBDTableSetItem req;
  if (!decodes(m, req)) return refuse("Failed to decode request", "lacks a required field");
  const auto& item = req.item();
  if (!item.has_replicainfo()) return wedge("no item.replicaInfo: the original dereferences nil");
  if (!req.has_minacks() || req.minacks() < 1) {
    return wedge("minAcks absent or < 1: the original never answers");
  }
  if (req.demoting() && !req.has_origin()) return wedge("a hand-over without origin");
  if (req.minacks() > replicas + 1) {
    return serve("minAcks above replicas + 1: the original writes at consistency 1");
  }
  if (item.deleted() && item.has_val()) {
    return serve("a delete with a val: the original stores the value instead");
  }
  if (!item.has_timestamp() || item.timestamp() <= 0) {
    return refuse("Record too old", "no timestamp: the original takes it for 1970");
  }
  return serve();
}

OriginalVerdict judge_set_replica(const Message& m) {
  ::dtable::PBDTableSetItem req;
  if (!decodes(m, req)) return refuse("Failed to decode request", "lacks a required field");
  const auto& item = req.item();
  if (!item.has_replicainfo()) return serve("SetReplica without replicaInfo: promote() crashes");
  const auto& info = item.replicainfo();
  if (!info.has_master()) return serve("SetReplica without replicaInfo.master");
  if (info.vnodes_size() <= info.depth()) {
    return serve("SetReplica whose replicaInfo.vnodes has no entry at its depth " +
                 std::to_string(info.depth()) + ": promote()/demote() index out of range");
  }
  return serve();
}

}  // namespace

bool is_original_table_write(MessageType type) {
  return type == dmsg::kSetItem || type == dmsg::kSetReplica || type == dmsg::kSetReplicaInfo ||
         type == dmsg::kClearReplica;
}

OriginalVerdict judge_for_original(const Message& m, int replicas) {
  switch (m.type) {
    case msg::kErr:
      return wedge("Err sent as a request: the original never answers it");
    case msg::kLeave:
      return wedge("Leave: the original never answers it");
    case msg::kPing:
      return served_if_decoded<PBProtoPing>(m);
    case msg::kListVnodes:
      return serve();
    case msg::kFindSuccessors: {
      PBProtoFindSuccessors req;
      if (!decodes(m, req)) return refuse("Failed to decode request", "lacks a required field");
      if (!req.has_limit() || req.limit() < 1) {
        return serve("FindSuccessors without a limit: the original answers an empty list");
      }
      return serve();
    }
    case msg::kGetPredecessor:
      return served_if_decoded<PBProtoGetPredecessor>(m);
    case msg::kNotify:
      return served_if_decoded<PBProtoNotify>(m);
    case dmsg::kStatus:
      return served_if_decoded<::dtable::PBDTableStatus>(m);
    case dmsg::kGetItem:
      return served_if_decoded<::dtable::PBDTableGetItem>(m);
    case dmsg::kSetItem:
      return judge_set_item(m, replicas);
    case dmsg::kSetReplica:
      return judge_set_replica(m);
    case dmsg::kSetReplicaInfo:
      return served_if_decoded<::dtable::PBDTableSetReplicaInfo>(m);
    case dmsg::kClearReplica:
      return served_if_decoded<::dtable::PBDTableClearReplica>(m);
    case dmsg::kPromoteKey:
      return wedge("PromoteKey: the original panics unless it holds the key with replicaInfo");
    default: {
      char text[64];
      std::snprintf(text, sizeof text, "unknown message type 0x%02x", m.type);
      return refuse(text);  // as the original answers a type it does not serve
    }
  }
}

struct OriginalStrictPeer::Io {
  zmq::context_t ctx{1};
  zmq::socket_t front{ctx, zmq::socket_type::router};
  zmq::socket_t back{ctx, zmq::socket_type::dealer};
  std::string connected;  // the backend `back` is connected to
  std::atomic<bool> stop{false};
  int replicas = 2;
  // Requests passed to the backend, by tag: their envelope (identity first)
  // and type.
  struct Forwarded {
    std::vector<std::string> envelope;
    MessageType type = 0;
  };
  std::unordered_map<std::uint64_t, Forwarded> forwarded;
  std::uint64_t next_tag = 1;
  // Table writes in flight per sender (its identity frame).
  std::unordered_map<std::string, int> writes_in_flight;
};

Result<std::unique_ptr<OriginalStrictPeer>> OriginalStrictPeer::start(int replicas) {
  std::unique_ptr<OriginalStrictPeer> peer(new OriginalStrictPeer());
  peer->io_ = std::make_unique<Io>();
  peer->io_->replicas = replicas;
  peer->io_->front.set(zmq::sockopt::linger, 0);
  peer->io_->back.set(zmq::sockopt::linger, 0);
  for (int attempt = 0; attempt < 20; ++attempt) {
    const std::string address = "127.0.0.1:" + std::to_string(free_port());
    try {
      peer->io_->front.bind("tcp://" + address);
      peer->address_ = address;
      break;
    } catch (const zmq::error_t&) {
    }
  }
  if (peer->address_.empty()) return Status::Unavailable("no free port for the strict peer");
  OriginalStrictPeer* self = peer.get();
  peer->thread_ = std::thread([self] { self->loop(); });
  return peer;
}

OriginalStrictPeer::~OriginalStrictPeer() {
  io_->stop.store(true);
  if (thread_.joinable()) thread_.join();
}

void OriginalStrictPeer::set_backend(const std::string& backend) {
  std::lock_guard lock(mu_);
  backend_ = backend;
}

std::vector<std::string> OriginalStrictPeer::violations() const {
  std::lock_guard lock(mu_);
  return violations_;
}

std::map<MessageType, int> OriginalStrictPeer::seen() const {
  std::lock_guard lock(mu_);
  return seen_;
}

int OriginalStrictPeer::hand_overs() const {
  std::lock_guard lock(mu_);
  return hand_overs_;
}

std::set<std::string> OriginalStrictPeer::uncommitted() const {
  std::lock_guard lock(mu_);
  return uncommitted_;
}

void OriginalStrictPeer::record(MessageType type, const std::string& what) {
  char head[16];
  std::snprintf(head, sizeof head, "0x%02x: ", type);
  std::lock_guard lock(mu_);
  violations_.push_back(head + what);
}

namespace {

// Reads one multipart message without blocking; empty when none is there.
std::vector<std::string> read_all(zmq::socket_t& s) {
  std::vector<std::string> frames;
  zmq::message_t part;
  if (!s.recv(part, zmq::recv_flags::dontwait)) return frames;
  frames.push_back(part.to_string());
  while (part.more()) {
    if (!s.recv(part, zmq::recv_flags::none)) break;
    frames.push_back(part.to_string());
  }
  return frames;
}

void send_all(zmq::socket_t& s, const std::vector<std::string>& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    s.send(zmq::buffer(frames[i]), flags);
  }
}

std::string tag_frame(std::uint64_t tag) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(tag & 0xff);
    tag >>= 8;
  }
  return out;
}

std::uint64_t tag_of(const std::string& frame) {
  std::uint64_t tag = 0;
  for (unsigned char c : frame) tag = (tag << 8) | c;
  return tag;
}

}  // namespace

void OriginalStrictPeer::loop() {
  Io& io = *io_;
  while (!io.stop.load()) {
    {
      std::lock_guard lock(mu_);
      if (!backend_.empty() && io.connected != backend_) {
        io.back.connect("tcp://" + backend_);
        io.connected = backend_;
      }
    }
    zmq::pollitem_t items[] = {{io.front.handle(), 0, ZMQ_POLLIN, 0},
                               {io.back.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(50));
    if (items[0].revents & ZMQ_POLLIN) {
      std::vector<std::string> frames = read_all(io.front);
      std::size_t delim = 0;
      while (delim < frames.size() && !frames[delim].empty()) ++delim;
      if (frames.empty() || delim == 0 || delim + 2 != frames.size() || frames[delim + 1].empty()) {
        record(0xff, "a request of a shape the original's REP workers cannot take");
        continue;
      }
      const std::string& payload = frames[delim + 1];
      Message request{static_cast<MessageType>(static_cast<unsigned char>(payload[0])),
                      payload.substr(1)};
      std::vector<std::string> envelope(frames.begin(),
                                        frames.begin() + static_cast<std::ptrdiff_t>(delim));
      {
        std::lock_guard lock(mu_);
        ++seen_[request.type];
      }
      OriginalVerdict verdict = judge_for_original(request, io.replicas);
      if (verdict.action == Action::kServe && is_original_table_write(request.type)) {
        if (io.writes_in_flight[envelope[0]]++ > 0) {
          verdict.violation += (verdict.violation.empty() ? "" : "; ") +
                               std::string(
                                   "a second table write while one is in flight "
                                   "(the original's maps are unlocked)");
        }
      }
      if (!verdict.violation.empty()) record(request.type, verdict.violation);
      if (verdict.action == Action::kWedge) continue;
      if (verdict.action == Action::kRefuse) {
        Message err = make_error(verdict.error);
        envelope.emplace_back();
        envelope.push_back(std::string(1, static_cast<char>(err.type)) + err.payload);
        send_all(io.front, envelope);
        continue;
      }
      if (request.type == dtable::msg::kSetItem) {
        ::dtable::PBDTableSetItem set;
        if (set.ParseFromString(request.payload) && set.demoting()) {
          std::lock_guard lock(mu_);
          ++hand_overs_;
        }
      }
      if (request.type == dtable::msg::kSetReplica ||
          request.type == dtable::msg::kSetReplicaInfo) {
        ::dtable::PBDTableSetItem set;
        ::dtable::PBDTableSetReplicaInfo info;
        std::lock_guard lock(mu_);
        if (request.type == dtable::msg::kSetReplica && set.ParseFromString(request.payload) &&
            set.item().has_val()) {
          uncommitted_.insert(hex_of(set.item().keyhash()));
        } else if (request.type == dtable::msg::kSetReplicaInfo &&
                   info.ParseFromString(request.payload)) {
          uncommitted_.erase(hex_of(info.keyhash()));
        }
      }
      if (io.connected.empty()) continue;  // no backend yet: as if it were slow
      const std::uint64_t tag = io.next_tag++;
      io.forwarded[tag] = Io::Forwarded{std::move(envelope), request.type};
      send_all(io.back, {tag_frame(tag), std::string(), payload});
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::vector<std::string> frames = read_all(io.back);
      if (frames.size() != 3 || frames[0].size() != 8) continue;
      auto it = io.forwarded.find(tag_of(frames[0]));
      if (it == io.forwarded.end()) continue;
      Io::Forwarded f = std::move(it->second);
      io.forwarded.erase(it);
      if (is_original_table_write(f.type)) --io.writes_in_flight[f.envelope[0]];
      f.envelope.emplace_back();
      f.envelope.push_back(std::move(frames[2]));
      send_all(io.front, f.envelope);
    }
  }
}

}  // namespace dendrite::test
