// Fuzz target: the ZAP handler's verdict (host/zap_handler.h) on any request.
// Input: frames, each a length byte and that many bytes (a short last frame
// takes what is left). Checks: no crash; a reply has ZAP's six frames and
// echoes the request id; a peer is let in only with status 200, a user id
// naming its role, the domain "dendrite", mechanism CURVE and a 32-byte key
// on one of the lists; a refusal always says why.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/zap_handler.h"

namespace {

// Fixed test keys: a node pair whose key is listed, another node key, a client key.
constexpr const char* kNodeSecret = "M!3Z/I*Gs&5l1hv70#LpBB9[L4p3@32RCPi4>eu7";
constexpr const char* kNodePublic = "L6GYtE?3.d6HdFqi%V]dlpCU!N9qLKSdaxW}m-a+";
constexpr const char* kOtherNode = "fy!:.BvGH6+l{#mXA^(f12o{/6m3uETeLOY<:qW+";
constexpr const char* kClient = "SIC=pA:pbG2<h1?sv4aNA&36Ov%68IdaL[w=<paU";

const dendrite::host::AccessPolicy& policy() {
  static const std::shared_ptr<const dendrite::host::AccessPolicy> loaded = [] {
    char dir[] = "/tmp/dendrite-fuzz-zap-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    const std::string secret = std::string(dir) + "/secret.key";
    const std::string pub = std::string(dir) + "/public.key";
    std::ofstream(secret) << kNodeSecret << "\n";
    std::ofstream(pub) << kNodePublic << "\n";
    ::chmod(secret.c_str(), 0600);  // a secret key others may read is refused
    dendrite::host::CurveConfig curve{
        secret, pub, {std::string(kNodePublic) + " 127.0.0.1:5000", kOtherNode}, {kClient}};
    auto p = dendrite::host::AccessPolicy::load(curve);
    ::unlink(secret.c_str());
    ::unlink(pub.c_str());
    ::rmdir(dir);
    if (!p.ok()) std::abort();
    return *p;
  }();
  return *loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dendrite::host;  // NOLINT(google-build-using-namespace)
  std::vector<std::string_view> frames;
  std::size_t at = 0;
  while (at < size && frames.size() < 64) {
    const std::size_t len = data[at++];
    const std::size_t take = len < size - at ? len : size - at;
    frames.emplace_back(reinterpret_cast<const char*>(data) + at, take);
    at += take;
  }
  const ZapVerdict v = judge_zap_request(frames, policy());
  if (v.reply.empty()) {
    if (frames.size() >= 2 || v.role != PeerRole::kNone) std::abort();
    return 0;
  }
  if (v.reply.size() != 6 || v.reply[0] != "1.0" || v.reply[1] != frames[1]) std::abort();
  if (v.role == PeerRole::kNone) {
    if (v.reply[2] == "200" || !v.reply[4].empty() || v.refusal.empty()) std::abort();
    return 0;
  }
  if (v.reply[2] != "200" || role_of_user_id(v.reply[4]) != v.role || !v.refusal.empty()) {
    std::abort();
  }
  if (frames.size() != 7 || frames[0] != "1.0" || frames[2] != kZapDomain || frames[5] != "CURVE" ||
      frames[6].size() != 32) {
    std::abort();
  }
  return 0;
}
