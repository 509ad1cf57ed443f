#include "host/zap_handler.h"

#include <pthread.h>
#include <zmq.h>

#include <array>
#include <chrono>

#include "dendrite/wire/curve_keys.h"
#include "host/logging.h"

namespace dendrite::host {
namespace {

constexpr std::string_view kZapEndpoint = "inproc://zeromq.zap.01";
constexpr std::string_view kZapVersion = "1.0";
// How long the handler's poll sleeps before it looks whether to stop.
constexpr auto kPollInterval = std::chrono::milliseconds(100);
// A ZAP request has a handful of frames; more is no request of libzmq's.
constexpr std::size_t kMaxZapFrames = 16;
constexpr std::size_t kCurveKeyBytes = 32;

ZapVerdict reply_with(std::string_view request_id, std::string_view code, std::string_view text,
                      PeerRole role) {
  ZapVerdict v;
  v.role = role;
  v.reply = {std::string(kZapVersion), std::string(request_id),         std::string(code),
             std::string(text),        std::string(role_user_id(role)), std::string()};
  return v;
}

}  // namespace

ZapVerdict judge_zap_request(const std::vector<std::string_view>& frames,
                             const AccessPolicy& policy) {
  // version, request id, domain, address, routing id, mechanism: six at least.
  if (frames.size() < 2) return ZapVerdict{};  // nothing to answer to
  const std::string_view id = frames[1];
  ZapVerdict v;
  auto refuse = [&](std::string_view code, std::string why, RefusalReason reason) {
    v = reply_with(id, code, why, PeerRole::kNone);
    v.peer = frames.size() > 3 ? std::string(frames[3]) : std::string();
    v.refusal = std::move(why);
    v.reason = reason;
    return v;
  };
  if (frames[0] != kZapVersion || frames.size() < 6 || frames.size() > kMaxZapFrames) {
    return refuse("500", "malformed ZAP request", RefusalReason::kBadHandshake);
  }
  const std::string_view domain = frames[2];
  const std::string_view mechanism = frames[5];
  if (domain != kZapDomain) {
    return refuse("400", "ZAP domain '" + std::string(domain) + "' is not ours",
                  RefusalReason::kWrongDomain);
  }
  if (mechanism != "CURVE") {
    return refuse("400", "mechanism " + std::string(mechanism) + " where CURVE is required",
                  RefusalReason::kBadHandshake);
  }
  if (frames.size() != 7 || frames[6].size() != kCurveKeyBytes) {
    return refuse("500", "malformed ZAP request: a CURVE request carries one 32-byte key",
                  RefusalReason::kBadHandshake);
  }
  std::array<char, wire::kZ85KeyChars + 1> z85{};
  zmq_z85_encode(z85.data(), reinterpret_cast<const std::uint8_t*>(frames[6].data()),
                 kCurveKeyBytes);
  const std::string key(z85.data(), wire::kZ85KeyChars);
  const PeerRole role = policy.role_of(key);
  if (role == PeerRole::kNone) {
    return refuse("400",
                  "unknown CURVE key " + key + " (on neither the nodes nor the clients list)",
                  RefusalReason::kUnknownKey);
  }
  v = reply_with(id, "200", "OK", role);
  v.peer = std::string(frames[3]);
  return v;
}

ZapHandler::ZapHandler(zmq::context_t& ctx, const AccessPolicy& policy, Refusals& refusals)
    : ctx_(ctx), policy_(policy), refusals_(refusals) {}

ZapHandler::~ZapHandler() {
  stop();
}

Status ZapHandler::start() {
  try {
    zmq::socket_t s(ctx_, zmq::socket_type::rep);
    s.set(zmq::sockopt::linger, 0);
    s.bind(std::string(kZapEndpoint));
    socket_ = std::move(s);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot start the ZAP handler on " + std::string(kZapEndpoint) +
                               ": " + e.what());
  }
  thread_ = std::thread([this] { run(); });
  return Status::Ok();
}

void ZapHandler::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  socket_.close();
}

void ZapHandler::run() {
  pthread_setname_np(pthread_self(), "dendrite-zap");
  auto log = get_logger("security");
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    while (!stopping_.load()) {
      if (zmq::poll(&item, 1, kPollInterval) == 0) continue;
      std::vector<zmq::message_t> frames;
      bool more = true;
      while (more) {
        zmq::message_t f;
        if (!socket_.recv(f, zmq::recv_flags::dontwait)) break;
        more = f.more();
        if (frames.size() < kMaxZapFrames + 1) frames.push_back(std::move(f));
      }
      std::vector<std::string_view> views;
      views.reserve(frames.size());
      for (const zmq::message_t& f : frames) views.emplace_back(f.data<char>(), f.size());
      ZapVerdict v = judge_zap_request(views, policy_);
      if (!v.refusal.empty()) refusals_.refuse(v.reason, v.peer, v.refusal);
      if (v.reply.empty()) {
        // A REP socket must answer before it reads again: answer the
        // unanswerable with an empty message (libzmq never sends one).
        socket_.send(zmq::message_t(), zmq::send_flags::none);
        continue;
      }
      for (std::size_t i = 0; i < v.reply.size(); ++i) {
        const auto flags =
            i + 1 < v.reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
        socket_.send(zmq::buffer(v.reply[i]), flags);
      }
    }
  } catch (const zmq::error_t& e) {
    if (!stopping_.load()) log->error("the ZAP handler stopped: {}", e.what());
  }
}

}  // namespace dendrite::host
