#include "store_record.h"

#include <cstring>

namespace dendrite::dtable {
namespace {

// 1: without refreshed_ns and seq; 2: with them (what is written now).
constexpr char kFormat1 = 1;
constexpr char kFormat = 2;
constexpr std::uint64_t kMaxVersions = 64;
constexpr std::uint64_t kMaxAborted = 64;
constexpr std::uint8_t kCommitted = 1;
constexpr std::uint8_t kDeleted = 2;
// The version's expiry (Unix ms) follows its timestamp. Older binaries refuse
// the flag, so a record of an expiring key never reads as one that lives on.
constexpr std::uint8_t kExpires = 4;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_i64(std::string& out, std::int64_t v) {
  char b[8];
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(u >> (8 * i));
  out.append(b, 8);
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

// Reads from a record, failing (ok() false) on the first overrun.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return fail();
      const auto b = static_cast<std::uint8_t>(in_.front());
      in_.remove_prefix(1);
      v |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    return fail();
  }
  std::uint8_t byte() {
    if (in_.empty()) return static_cast<std::uint8_t>(fail());
    const auto b = static_cast<std::uint8_t>(in_.front());
    in_.remove_prefix(1);
    return b;
  }
  std::int64_t i64() {
    std::string_view b = take(8);
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < b.size(); ++i)
      u |= std::uint64_t{static_cast<std::uint8_t>(b[i])} << (8 * i);
    return static_cast<std::int64_t>(u);
  }
  std::string_view take(std::uint64_t n) {
    if (n > in_.size()) {
      fail();
      return {};
    }
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::string_view bytes() { return take(varint()); }

 private:
  std::uint64_t fail() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

void encode_record(const StoreRecord& r, std::string& out) {
  out.clear();
  out.push_back(kFormat);
  put_bytes(out, r.key);
  put_varint(out, r.versions.size());
  for (const StoreRecord::Version& v : r.versions) {
    out.push_back(static_cast<char>((v.committed ? kCommitted : 0) | (v.deleted ? kDeleted : 0) |
                                    (v.expires_ms != 0 ? kExpires : 0)));
    put_i64(out, v.ts);
    if (v.expires_ms != 0) put_i64(out, v.expires_ms);
    put_bytes(out, v.value);
  }
  put_varint(out, r.aborted.size());
  for (std::int64_t ts : r.aborted) put_i64(out, ts);
  out.push_back(r.master ? 1 : 0);
  if (r.master) {
    out.append(reinterpret_cast<const char*>(r.master->id.bytes().data()), Id::kBytes);
    put_bytes(out, r.master->host);
  }
  put_varint(out, static_cast<std::uint64_t>(r.depth < 0 ? 0 : r.depth));
  put_i64(out, r.refreshed_ns);
  put_varint(out, r.seq);
}

bool decode_record(std::string_view in, StoreRecord& r) {
  r = StoreRecord();
  Reader rd(in);
  const std::uint8_t format = rd.byte();
  if (format != kFormat && format != kFormat1) return false;
  r.key = rd.bytes();
  const std::uint64_t n = rd.varint();
  if (!rd.ok() || n > kMaxVersions) return false;
  std::int64_t last = 0;
  for (std::uint64_t i = 0; i < n && rd.ok(); ++i) {
    const std::uint8_t flags = rd.byte();
    if ((flags & ~(kCommitted | kDeleted | kExpires)) != 0) return false;
    StoreRecord::Version v;
    v.committed = (flags & kCommitted) != 0;
    v.deleted = (flags & kDeleted) != 0;
    v.ts = rd.i64();
    if ((flags & kExpires) != 0) {
      v.expires_ms = rd.i64();
      if (v.expires_ms == 0) return false;  // the flag says there is one
    }
    v.value = rd.bytes();
    if (i > 0 && v.ts <= last) return false;  // versions are kept in ascending order
    last = v.ts;
    r.versions.push_back(v);
  }
  const std::uint64_t marks = rd.varint();
  if (!rd.ok() || marks > kMaxAborted) return false;
  for (std::uint64_t i = 0; i < marks && rd.ok(); ++i) r.aborted.push_back(rd.i64());
  const std::uint8_t has_master = rd.byte();
  if (has_master > 1) return false;
  if (has_master == 1) {
    auto id = Id::from_bytes(rd.take(Id::kBytes));
    std::string_view host = rd.bytes();
    if (!rd.ok() || !id) return false;
    r.master = Vnode{*id, std::string(host)};
  }
  const std::uint64_t depth = rd.varint();
  if (depth > 1024) return false;
  r.depth = static_cast<int>(depth);
  if (format == kFormat) {
    r.refreshed_ns = rd.i64();
    r.seq = rd.varint();
  }
  return rd.done();
}

}  // namespace dendrite::dtable
