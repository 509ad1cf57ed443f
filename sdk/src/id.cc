#include "dendrite/id.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

namespace dendrite {
namespace {

// An id's 160 bits as three unsigned integers (32 high bits, then 64 and 64),
// for arithmetic a word at a time instead of a byte at a time.
struct Limbs {
  std::uint32_t hi = 0;
  std::uint64_t mid = 0, lo = 0;

  template <typename T>
  static T load(const std::uint8_t* p) {  // big-endian
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v << 8 | p[i]);
    return v;
  }
  template <typename T>
  static void store(T v, std::uint8_t* p) {
    for (std::size_t i = sizeof(T); i-- > 0;) {
      p[i] = static_cast<std::uint8_t>(v & 0xff);
      v = static_cast<T>(v >> 8);
    }
  }
  static Limbs of(const Id::Bytes& b) {
    return Limbs{load<std::uint32_t>(b.data()), load<std::uint64_t>(b.data() + 4),
                 load<std::uint64_t>(b.data() + 12)};
  }
  Id::Bytes bytes() const {
    Id::Bytes b;
    store(hi, b.data());
    store(mid, b.data() + 4);
    store(lo, b.data() + 12);
    return b;
  }
};
static_assert(Id::kBytes == 20, "Limbs splits 160 bits");

// SHA-1 through a digest fetched once and a context kept per thread: the
// one-shot SHA1() fetches the algorithm and allocates a context on every call,
// which costs several times the hash of a short key.
class Sha1 {
 public:
  Sha1() : md_(EVP_MD_fetch(nullptr, "SHA1", nullptr)), ctx_(EVP_MD_CTX_new()) {}
  ~Sha1() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;

  // False when the digest could not be set up (the caller falls back to SHA1()).
  bool digest(std::string_view data, unsigned char* out) {
    unsigned int len = 0;
    return md_ && ctx_ && EVP_DigestInit_ex(ctx_, md_, nullptr) == 1 &&
           EVP_DigestUpdate(ctx_, data.data(), data.size()) == 1 &&
           EVP_DigestFinal_ex(ctx_, out, &len) == 1 && len == Id::kBytes;
  }

 private:
  EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Id Id::hash(std::string_view data) {
  Bytes out;
  thread_local Sha1 sha1;
  if (!sha1.digest(data, out.data())) {
    SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  }
  return Id(out);
}

Id Id::for_vnode(std::string_view host, std::uint16_t index) {
  std::string buf(host);
  buf.push_back(static_cast<char>(index >> 8));
  buf.push_back(static_cast<char>(index & 0xff));
  return hash(buf);
}

std::optional<Id> Id::from_bytes(std::string_view raw) {
  if (raw.size() != kBytes) return std::nullopt;
  Bytes b;
  std::memcpy(b.data(), raw.data(), kBytes);
  return Id(b);
}

std::optional<Id> Id::from_hex(std::string_view hex) {
  if (hex.size() != 2 * kBytes) return std::nullopt;
  Bytes b;
  for (std::size_t i = 0; i < kBytes; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    b[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return Id(b);
}

Id Id::max() {
  Bytes b;
  b.fill(0xff);
  return Id(b);
}

std::string Id::hex() const {
  return short_hex(2 * kBytes);
}

std::string Id::short_hex(std::size_t n) const {
  static constexpr char kDigits[] = "0123456789abcdef";
  if (n > 2 * kBytes) n = 2 * kBytes;
  std::string s(n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t byte = bytes_[i / 2];
    s[i] = kDigits[(i % 2 == 0) ? (byte >> 4) : (byte & 0xf)];
  }
  return s;
}

Id Id::plus_pow2(int i) const {
  Bytes b{};
  if (i >= 0 && i < kBits) {
    b[kBytes - 1 - i / 8] = static_cast<std::uint8_t>(1u << (i % 8));
  }
  return *this + Id(b);
}

Id Id::operator+(const Id& other) const {
  const Limbs a = Limbs::of(bytes_), b = Limbs::of(other.bytes_);
  Limbs r;
  r.lo = a.lo + b.lo;
  const std::uint64_t carry_lo = r.lo < a.lo ? 1 : 0;
  r.mid = a.mid + b.mid + carry_lo;
  const std::uint64_t carry_mid = (r.mid < a.mid || (carry_lo != 0 && r.mid == a.mid)) ? 1 : 0;
  r.hi = static_cast<std::uint32_t>(a.hi + b.hi + carry_mid);
  return Id(r.bytes());
}

Id Id::operator-(const Id& other) const {
  const Limbs a = Limbs::of(bytes_), b = Limbs::of(other.bytes_);
  Limbs r;
  r.lo = a.lo - b.lo;
  const std::uint64_t borrow_lo = a.lo < b.lo ? 1 : 0;
  r.mid = a.mid - b.mid - borrow_lo;
  const std::uint64_t borrow_mid = (a.mid < b.mid || (borrow_lo != 0 && a.mid == b.mid)) ? 1 : 0;
  r.hi = static_cast<std::uint32_t>(a.hi - b.hi - borrow_mid);
  return Id(r.bytes());
}

bool between(const Id& a, const Id& b, const Id& k, bool right_inclusive) {
  if (right_inclusive && k == b) return true;
  if (a < b) return a < k && k < b;
  // Wraps past zero (or a == b: the whole ring but a).
  return a < k || k < b;
}

}  // namespace dendrite
