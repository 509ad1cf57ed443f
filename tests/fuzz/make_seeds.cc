// Writes the seed corpora of the fuzz targets (docs/fuzzing.md) from real
// traffic: the ring requests host A receives while a two-host ring forms,
// stabilises, looks keys up and one host leaves; the dtable requests a client
// sends and those the plugin itself sends to its replicas while serving them,
// with the answers it got. Frames are wrapped in the envelopes the transport
// receives. Usage: dendrite-fuzz-seeds <corpus dir> (writes <dir>/<target>/).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "chord.pb.h"
#include "dendrite/id.h"
#include "dendrite/message.h"
#include "dendrite/testing/fake_host.h"
#include "dendrite/wire/frame_codec.h"
#include "dtable.pb.h"
#include "host/dispatcher.h"
#include "host/logging.h"
#include "host/plugin_loader.h"
#include "records.h"
#include "ring_setup.h"
#include "support/mem_network.h"
#include "table_setup.h"

namespace {

using dendrite::Id;
using dendrite::Message;
using dendrite::MessageType;
using dendrite::Result;
using dendrite::Status;
using dendrite::Vnode;
namespace fs = std::filesystem;
namespace fuzz = dendrite::fuzz;
namespace pb = ::dtable;

// Seeds per message type kept from captured traffic.
constexpr std::size_t kPerType = 3;

class Writer {
 public:
  explicit Writer(fs::path root) : root_(std::move(root)) {}
  void write(const std::string& target, const std::string& name, const std::string& bytes) {
    fs::create_directories(root_ / target);
    std::ofstream out(root_ / target / name, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ++counts_[target];
  }
  void report() const {
    for (const auto& [target, n] : counts_) std::printf("%-10s %zu seeds\n", target.c_str(), n);
  }

 private:
  fs::path root_;
  std::map<std::string, std::size_t> counts_;
};

std::string hex2(MessageType t) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02x", t);
  return buf;
}

std::string record(std::uint8_t tag, const std::string& bytes) {
  std::string out;
  fuzz::append_record(out, tag, bytes);
  return out;
}

// Keeps at most kPerType distinct frames of each type.
class Sampler {
 public:
  void add(const Message& m) {
    std::lock_guard lock(mu_);
    auto& list = by_type_[m.type];
    const std::string f = m.to_frame();
    if (list.size() < kPerType && std::find(list.begin(), list.end(), f) == list.end()) {
      list.push_back(f);
    }
  }
  std::map<MessageType, std::vector<std::string>> take() {
    std::lock_guard lock(mu_);
    return by_type_;
  }

 private:
  std::mutex mu_;
  std::map<MessageType, std::vector<std::string>> by_type_;
};

// ---- ring ----

struct RingTraffic {
  std::map<MessageType, std::vector<std::string>> requests;  // received by A
  std::map<MessageType, std::vector<std::string>> replies;   // sent by A
  std::vector<std::string> sequence;                         // A's first requests, in order
};

RingTraffic capture_ring() {
  dendrite::test::MemNetwork net;
  auto a = fuzz::make_fuzz_ring(net, fuzz::kRingHostA);
  auto b = fuzz::make_fuzz_ring(net, fuzz::kRingHostB);
  dendrite::host::Dispatcher dispatcher(
      [] { return std::string(R"({"vnodes": []})"); },
      [](const std::string& host) {
        return dendrite::Status::NotFound("not remembered: " + host);
      });
  dispatcher.attach_ring(a.get());
  Sampler requests, replies;
  std::mutex mu;
  std::vector<std::string> sequence;
  net.add(fuzz::kRingHostA, [&](const Message& m) {
    requests.add(m);
    {
      std::lock_guard lock(mu);
      if (sequence.size() < 16) sequence.push_back(m.to_frame());
    }
    Message reply = dispatcher.handle(m);
    replies.add(reply);
    return reply;
  });
  net.add(fuzz::kRingHostB, [ring = b.get()](const Message& m) { return ring->handle(m); });
  a->create();
  if (!b->join({fuzz::kRingHostA}).ok()) std::abort();
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < a->vnode_count(); ++i) a->stabilize(i);
    for (std::size_t i = 0; i < b->vnode_count(); ++i) b->stabilize(i);
  }
  for (const char* key : {"alpha", "beta", "gamma"}) (void)b->lookup(3, Id::hash(key));
  // Requests the session does not send A on its own: the host's status, an
  // unknown type, the original's Ack, Join and ListVnodes, and ForgetHost.
  requests.add(Message{dendrite::msg::kHostStatus, {}});
  requests.add(Message{0x1e, {}});
  dendrite::PBProtoAck ack;
  ack.set_version(1);
  ack.set_ok(true);
  requests.add(dendrite::pack(dendrite::msg::kAck, ack));
  requests.add(Message{dendrite::msg::kJoin, {}});
  dendrite::PBForgetHostRequest forget;
  forget.set_host(fuzz::kRingHostB);
  requests.add(dendrite::pack(dendrite::msg::kForgetHost, forget));
  b->leave();  // Leave to A
  net.remove(fuzz::kRingHostA);
  net.remove(fuzz::kRingHostB);
  return {requests.take(), replies.take(), sequence};
}

// ---- dtable ----

void set_vnode(dendrite::PBProtoVnode* out, const Vnode& v) {
  out->set_id(std::string(reinterpret_cast<const char*>(v.id.bytes().data()), Id::kBytes));
  out->set_host(v.host);
}

std::string raw(const Id& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes().data()), Id::kBytes);
}

Message ok_response() {
  pb::PBDTableResponse r;
  r.set_ok(true);
  r.set_copies(1);
  return dendrite::pack(0x21, r);
}

struct TableSeed {
  std::string name;
  std::string bytes;    // records: the answers the plugin got, then the request
  std::string answers;  // the answer records alone
  Message request;
};

// Serves `requests` on a fresh plugin; the answers it got from "the other
// nodes" go in front of each request in its seed. Outgoing requests are
// sampled into `outgoing`.
std::vector<TableSeed> serve_table(const std::vector<std::pair<std::string, Message>>& requests,
                                   Sampler& outgoing) {
  dendrite::testing::FakeHost host(fuzz::kTableHost, fuzz::kTableVnodes);
  fuzz::configure_table_host(host);
  std::mutex mu;
  std::string answers;  // records given while serving the current request
  host.set_responder([&](const std::string&, const Message& m) -> Result<Message> {
    outgoing.add(m);
    Message reply = ok_response();
    if (m.type == 0x24) {  // GetItem: the replica's copy
      pb::PBDTableItem item;
      item.set_found(true);
      item.set_key("alpha");
      item.set_val("1");
      item.set_timestamp(1700000000000000000);
      item.set_commited(true);
      reply = dendrite::pack(0x22, item);
    } else if (m.type == 0x2A || m.type == 0x2B) {  // multi reads, local keys
      pb::PBDTableMultiItemResponse r;
      auto* item = r.add_items();
      item->set_key("alpha");
      item->set_val("1");
      item->set_timestamp(1700000000000000000);
      item->set_found(true);
      reply = dendrite::pack(0x23, r);
    }
    std::lock_guard lock(mu);
    fuzz::append_record(answers, 1, reply.to_frame());
    return reply;
  });
  dendrite::host::PluginLoader loader(".", host, fuzz::null_loggers());
  if (Status s = fuzz::start_dtable(loader); !s.ok()) {
    std::fprintf(stderr, "cannot start dtable: %s\n", s.to_string().c_str());
    std::exit(1);
  }
  dendrite::TransportHook* hook = loader.hook_for(0x20);
  std::vector<TableSeed> seeds;
  for (const auto& [name, request] : requests) {
    {
      std::lock_guard lock(mu);
      answers.clear();
    }
    std::mutex done_mu;
    std::condition_variable cv;
    bool done = false;
    hook->handle_async(request, [&](Result<Message>) {
      std::lock_guard lock(done_mu);
      done = true;
      cv.notify_all();
    });
    {
      std::unique_lock lock(done_mu);
      cv.wait(lock, [&] { return done; });
    }
    std::lock_guard lock(mu);
    seeds.push_back({name, answers + record(0, request.to_frame()), answers, request});
  }
  loader.stop();
  loader.unload();
  return seeds;
}

std::vector<std::pair<std::string, Message>> table_requests() {
  const std::vector<Vnode> local = fuzz::vnodes_of(fuzz::kTableHost, fuzz::kTableVnodes);
  const Vnode origin = fuzz::vnodes_of(fuzz::kTablePeer1, 1)[0];
  // Keys whose primary is a local vnode, and the vnode.
  dendrite::testing::FakeHost ring(fuzz::kTableHost, fuzz::kTableVnodes);
  fuzz::configure_table_host(ring);
  std::vector<std::pair<std::string, Vnode>> keys;
  for (int i = 0; keys.size() < 3 && i < 100; ++i) {
    const std::string key = "key-" + std::to_string(i);
    auto owners = ring.lookup(1, Id::hash(key));
    if (owners.ok() && !owners->empty() && owners->front().host == fuzz::kTableHost) {
      keys.emplace_back(key, owners->front());
    }
  }
  std::vector<std::pair<std::string, Message>> out;
  auto item = [](pb::PBDTableItem* it, const std::string& key, const std::string& val) {
    it->set_key(key);
    it->set_keyhash(raw(Id::hash(key)));
    if (!val.empty()) it->set_val(val);
    it->set_timestamp(1700000000000000000);
    it->set_commited(true);
  };
  {
    pb::PBDTableStatus m;
    set_vnode(m.mutable_dest(), local[0]);
    out.emplace_back("status", dendrite::pack(0x20, m));
  }
  for (std::size_t k = 0; k < keys.size(); ++k) {
    const auto& [key, owner] = keys[k];
    const std::string n = std::to_string(k);
    pb::PBDTableSetItem set;
    set_vnode(set.mutable_dest(), owner);
    item(set.mutable_item(), key, "value-" + n);
    set.set_minacks(k == 0 ? 1 : 2);
    out.emplace_back("set_item_" + n, dendrite::pack(0x25, set));
    pb::PBDTableGetItem get;
    set_vnode(get.mutable_dest(), owner);
    get.set_keyhash(raw(Id::hash(key)));
    get.set_consistency(k == 0 ? 1 : 2);
    if (k == 2) get.set_peek(true);
    out.emplace_back("get_item_" + n, dendrite::pack(0x24, get));
  }
  if (!keys.empty()) {
    const auto& [key, owner] = keys[0];
    pb::PBDTableSetItem del;  // no value: a delete
    set_vnode(del.mutable_dest(), owner);
    item(del.mutable_item(), key, "");
    out.emplace_back("delete_item", dendrite::pack(0x25, del));
    pb::PBDTableSetItem replica;
    set_vnode(replica.mutable_dest(), local[1]);
    item(replica.mutable_item(), key, "replica");
    set_vnode(replica.mutable_origin(), origin);
    replica.mutable_item()->mutable_replicainfo()->set_depth(0);
    set_vnode(replica.mutable_item()->mutable_replicainfo()->mutable_master(), origin);
    out.emplace_back("set_replica", dendrite::pack(0x28, replica));
    pb::PBDTableSetReplicaInfo info;
    set_vnode(info.mutable_dest(), local[1]);
    info.set_keyhash(raw(Id::hash(key)));
    set_vnode(info.mutable_replicainfo()->mutable_master(), origin);
    set_vnode(info.mutable_replicainfo()->add_vnodes(), local[1]);
    info.mutable_replicainfo()->set_depth(1);
    info.set_timestamp(1700000000000000000);
    out.emplace_back("set_replica_info", dendrite::pack(0x29, info));
    pb::PBDTableClearReplica clear;
    set_vnode(clear.mutable_dest(), local[1]);
    clear.set_keyhash(raw(Id::hash(key)));
    clear.set_demoted(false);
    set_vnode(clear.mutable_origin(), origin);
    out.emplace_back("clear_replica", dendrite::pack(0x27, clear));
    pb::PBDTablePromoteKey promote;
    set_vnode(promote.mutable_dest(), owner);
    item(promote.mutable_item(), key, "promoted");
    set_vnode(promote.mutable_origin(), origin);
    out.emplace_back("promote_key", dendrite::pack(0x30, promote));
    pb::PBDTableSetMultiItem multi;
    set_vnode(multi.mutable_dest(), owner);
    for (const auto& [k2, o2] : keys) item(multi.add_items(), k2, "multi");
    multi.set_minacks(1);
    out.emplace_back("set_multi_item", dendrite::pack(0x26, multi));
    pb::PBDTableGetMultiItem gm;
    set_vnode(gm.mutable_dest(), owner);
    for (const auto& [k2, o2] : keys) gm.add_keyhashes(raw(Id::hash(k2)));
    gm.set_consistency(1);
    out.emplace_back("get_multi_item", dendrite::pack(0x2A, gm));
    pb::PBDTableLocalKeys lk;
    set_vnode(lk.mutable_dest(), owner);
    lk.set_limit(10);
    lk.set_with_values(true);
    out.emplace_back("local_keys", dendrite::pack(0x2B, lk));
    pb::PBDTableDropItems drop;
    set_vnode(drop.mutable_dest(), local[1]);
    auto* ref = drop.add_items();
    ref->set_keyhash(raw(Id::hash(key)));
    ref->set_timestamp(1700000000000000000);
    drop.set_replica(true);
    out.emplace_back("drop_items", dendrite::pack(0x2C, drop));
    pb::PBDTableReplicaDigest digest;
    set_vnode(digest.mutable_dest(), local[1]);
    set_vnode(digest.mutable_origin(), origin);
    item(digest.add_items(), key, "");
    out.emplace_back("replica_digest", dendrite::pack(0x2D, digest));
    pb::PBDTableMutate mutate;  // INCRBY with an expiry kept, at consistency 2
    set_vnode(mutate.mutable_dest(), owner);
    mutate.set_key(key + ":ctr");
    mutate.set_op(3);
    mutate.set_delta(7);
    mutate.set_expiry(1);
    mutate.set_minacks(2);
    out.emplace_back("mutate", dendrite::pack(0x2F, mutate));
    pb::PBDTableMutate touch;  // EXPIRE ... GT with the previous value asked
    set_vnode(touch.mutable_dest(), owner);
    touch.set_key(key);
    touch.set_op(5);
    touch.set_expiry(2);
    touch.set_expiresat(4102444800000);
    touch.set_expiryif(3);
    touch.set_wantprevious(true);
    out.emplace_back("mutate_touch", dendrite::pack(0x2F, touch));
  }
  // Replies are not requests: the plugin answers Err.
  pb::PBDTableResponse resp;
  resp.set_ok(true);
  out.emplace_back("response", dendrite::pack(0x21, resp));
  return out;
}

// The plugin's own requests to other nodes, readdressed to a local vnode.
std::vector<std::pair<std::string, Message>> readdress(
    const std::map<MessageType, std::vector<std::string>>& sampled) {
  const Vnode local = fuzz::vnodes_of(fuzz::kTableHost, fuzz::kTableVnodes)[1];
  std::vector<std::pair<std::string, Message>> out;
  for (const auto& [type, frames] : sampled) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto m = Message::from_frame(frames[i]);
      if (!m.ok()) continue;
      // Every dtable request has its destination vnode in field 1; the
      // generic reflection of the client's messages rewrites it.
      const google::protobuf::Message* prototype = nullptr;
      switch (type) {
        case 0x20:
          prototype = &pb::PBDTableStatus::default_instance();
          break;
        case 0x24:
          prototype = &pb::PBDTableGetItem::default_instance();
          break;
        case 0x25:
        case 0x28:
          prototype = &pb::PBDTableSetItem::default_instance();
          break;
        case 0x26:
          prototype = &pb::PBDTableSetMultiItem::default_instance();
          break;
        case 0x27:
          prototype = &pb::PBDTableClearReplica::default_instance();
          break;
        case 0x29:
          prototype = &pb::PBDTableSetReplicaInfo::default_instance();
          break;
        case 0x2A:
          prototype = &pb::PBDTableGetMultiItem::default_instance();
          break;
        case 0x2B:
          prototype = &pb::PBDTableLocalKeys::default_instance();
          break;
        case 0x2C:
          prototype = &pb::PBDTableDropItems::default_instance();
          break;
        case 0x2D:
          prototype = &pb::PBDTableReplicaDigest::default_instance();
          break;
        case 0x2F:
          prototype = &pb::PBDTableMutate::default_instance();
          break;
        case 0x30:
          prototype = &pb::PBDTablePromoteKey::default_instance();
          break;
        default:
          break;
      }
      if (prototype == nullptr) continue;
      std::unique_ptr<google::protobuf::Message> msg(prototype->New());
      if (!msg->ParseFromString(m->payload)) continue;
      const auto* field = msg->GetDescriptor()->FindFieldByNumber(1);
      if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
        continue;
      }
      auto* dest = static_cast<dendrite::PBProtoVnode*>(
          msg->GetReflection()->MutableMessage(msg.get(), field));
      set_vnode(dest, local);
      Message again{type, msg->SerializeAsString()};
      out.emplace_back("sent_" + hex2(type) + "_" + std::to_string(i), again);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  dendrite::host::set_log_level(dendrite::LogLevel::kOff);
  Writer w{fs::path(argv[1])};

  // Ring: one request per seed, and the first requests of the session in order.
  const RingTraffic ring = capture_ring();
  for (const auto& [type, frames] : ring.requests) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      w.write("ring", "req_" + hex2(type) + "_" + std::to_string(i), record(0, frames[i]));
    }
  }
  // Replies sent as requests (A answers Err).
  for (const auto& [type, frames] : ring.replies) {
    if (ring.requests.count(type) == 0)
      w.write("ring", "reply_" + hex2(type), record(0, frames[0]));
  }
  std::string sequence;
  for (const auto& f : ring.sequence) sequence += record(0, f);
  w.write("ring", "session", sequence);

  // dtable: client requests with the answers the plugin got, then the
  // plugin's own requests (readdressed to this node) the same way.
  Sampler outgoing, unused;
  std::string session;  // every client request in one input, in order
  for (const auto& s : serve_table(table_requests(), outgoing)) {
    w.write("dtable", s.name, s.bytes);
    session += s.bytes;
  }
  w.write("dtable", "session", session);
  // Variants: reads while the vnodes settle (tag bit 7 of the first record;
  // misses read through to the previous holders, answered by a queued Item),
  // and requests through the blocking handle() (tag bit 2).
  for (const auto& s : serve_table(table_requests(), unused)) {
    if (s.request.type == 0x24 || s.request.type == 0x2A) {
      pb::PBDTableItem held;
      held.set_found(true);
      held.set_key("key-held");
      held.set_val("from the previous holder");
      held.set_timestamp(1600000000000000000);
      w.write("dtable", "settling_" + s.name,
              record(0x81, dendrite::pack(0x22, held).to_frame()) + s.answers +
                  record(0, s.request.to_frame()));
    }
    if (s.name == "set_item_0" || s.name == "get_item_1") {
      w.write("dtable", "blocking_" + s.name, s.answers + record(4, s.request.to_frame()));
    }
  }
  for (const auto& s : serve_table(readdress(outgoing.take()), unused)) {
    w.write("dtable", s.name, s.bytes);
  }

  // Frames: each ring request and reply type in the envelopes it arrives in.
  const std::string identity("\x00\x6b\x8b\x45\x67", 5);  // a ROUTER-made identity
  std::uint64_t id = 1;
  for (const auto& [type, frames] : ring.requests) {
    const std::string& f = frames.front();
    w.write("frames", "req_" + hex2(type),  // the original's REQ: [identity][empty][payload]
            record(0, identity) + record(0, "") + record(0, f));
    w.write("frames", "dealer_" + hex2(type),  // ours: [identity][id][empty][payload]
            record(0, identity) + record(0, dendrite::wire::correlation_frame(id++)) +
                record(0, "") + record(0, f));
  }
  for (const auto& [type, frames] : ring.replies) {
    w.write("frames", "reply_" + hex2(type),
            record(1, dendrite::wire::correlation_frame(id++)) + record(1, "") +
                record(1, frames.front()));
  }
  const std::string ping = ring.requests.at(dendrite::msg::kPing).front();
  w.write("frames", "bad_no_delimiter", record(0, identity) + record(0, ping));
  std::string deep;
  for (int i = 0; i < 7; ++i)
    deep += record(0, dendrite::wire::correlation_frame(static_cast<std::uint64_t>(i)));
  w.write("frames", "bad_deep_envelope", deep + record(0, "") + record(0, ping));
  w.write("frames", "bad_empty_payload", record(0, identity) + record(0, "") + record(0, ""));
  w.write("frames", "bad_two_payloads",
          record(0, identity) + record(0, "") + record(0, ping) + record(0, ping));
  w.write("frames", "bad_reply_short_id", record(1, "abc") + record(1, "") + record(1, ping));

  // Plugin descriptors: what DENDRITE_PLUGIN_DESCRIBED exports in tree.
  w.write("descriptor", "dtable", record(0, "dtable") + record(0, "0.1.0"));
  w.write("descriptor", "requires",
          record(0, "needs_base") + record(0, "1.0.0") + record(0, "base>=1.1") +
              record(2, std::string("\x20\x21\x44", 3)));
  w.write("descriptor", "requires_name_only",
          record(0, "tally") + record(0, "1.0.0") + record(0, "dtable"));
  w.write("descriptor", "bad_requirement",
          record(0, "bad_requirement") + record(0, "1.0.0") + record(0, "base>>1"));
  w.write("descriptor", "null_requirement", record(0, "x") + record(0, "2.10") + record(1, ""));
  // Config files: the examples of README.md and docs/config.md, the one-line
  // examples of docs/config.md, comments, and typical mistakes.
  int example = 0;
  for (const char* doc : {"README.md", "docs/config.md"}) {
    std::ifstream in(fs::path(DENDRITE_SOURCE_DIR) / doc);
    std::string line, block;
    bool inside = false;
    while (std::getline(in, line)) {
      if (!inside && line == "```json") {
        inside = true;
        block.clear();
      } else if (inside && line == "```") {
        inside = false;
        if (block.find("\"listen\"") != std::string::npos ||
            block.find("plugins") != std::string::npos) {
          w.write("config", "example_" + std::to_string(example++), block);
        }
      } else if (inside) {
        block += line + "\n";
      }
    }
  }
  const std::pair<const char*, const char*> configs[] = {
      {"two_nodes_plugins",
       R"({"plugins": [{"name": "dtable"}, {"name": "metrics", "config": {"listen": "127.0.0.1:9465"}}]})"},
      {"join", R"({"listen": "0.0.0.0:5001", "advertise": "10.0.0.2:5001",
                   "join": ["10.0.0.1:5000", "[::1]:5000"], "vnodes": 8, "replicas": 3})"},
      {"comments", "// a node\n{\"vnodes\": 1, /* one */ \"log\": {\"level\": \"debug\"}}"},
      {"plugin_dir", R"({"plugin_dir": "/opt/dendrite/plugins", "plugins": []})"},
      {"timeouts", R"({"timeout_ms": 250, "stabilize": {"min_ms": 100, "max_ms": 100},
                       "workers": {"min": 1, "max": 2, "idle_ms": 500}})"},
      {"bad_unknown_key", R"({"vnode": 3})"},
      {"bad_type", R"({"vnodes": "3", "join": "127.0.0.1:5000"})"},
      {"bad_range", R"({"workers": {"min": 20, "max": 10}, "num_successors": 0})"},
      {"bad_plugin", R"({"plugins": [{"name": "dtable"}, {"name": "dtable", "path": ""}]})"},
      {"bad_json", R"({"listen": "127.0.0.1:5000",)"},
  };
  for (const auto& [name, text] : configs) w.write("config", name, text);
  w.report();
  return 0;
}
