// Mutations: writes that dtable's primary of a key decides against the key's
// current value (conditional sets, read-modify-writes, expiry changes), and
// decide_mutation(), the one decision procedure both the dtable plugin's
// primary and MemoryTable run. Header-only, standard library only.
#pragma once

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace dendrite::dtable {

// The wall clock in ms since the Unix epoch: the clock every expiry
// (Mutation::expires_ms, a stored version's expiry) is compared with.
inline std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A write the key's primary decides against the key's current value there,
// atomically: no other write of that key comes between what it reads and
// what it writes. The value written is replicated like any write, with the
// consistency level's promise; a write that falls short is rolled back and
// reported, as for set(). The current value is the newest version at the
// primary, a pending one included (if that one is rolled back later, a
// mutation decided on it stays). An expired value counts as absent.
struct Mutation {
  enum class Op : std::uint8_t {
    kSet,     // the value becomes `operand`
    kDelete,  // the key is deleted (absent: nothing written)
    // kAppend and the increments usually keep the value's expiry (as Redis's
    // APPEND and INCR do): pass Expiry::kKeep; the default kNone clears it.
    kAppend,       // `operand` appended to the value (absent: the value is `operand`)
    kIncrBy,       // the value, a decimal signed 64-bit integer (absent: 0), plus `delta`
    kIncrByFloat,  // the value, a decimal number (absent: 0), plus `operand` (decimal)
    kTouch,        // the value kept, its expiry changed (absent: nothing written)
  };
  // When the write happens at all.
  enum class If : std::uint8_t {
    kAlways,
    kAbsent,   // the key has no live value (Redis NX)
    kPresent,  // the key has one (Redis XX)
  };
  // The expiry of the value written.
  enum class Expiry : std::uint8_t {
    kNone,  // it never expires
    kKeep,  // the current value's expiry (none when absent)
    kAt,    // `expires_ms` (Unix ms; one in the past deletes the key in effect)
  };
  // kTouch only: a condition on the current expiry, none meaning infinitely
  // late (Redis EXPIRE's NX, XX, GT, LT).
  // kSomeEarlier: an expiry, and a later one (EXPIRE's XX with LT).
  enum class ExpiryIf : std::uint8_t { kAlways, kNone, kSome, kLater, kEarlier, kSomeEarlier };

  Op op = Op::kSet;
  If condition = If::kAlways;
  Expiry expiry = Expiry::kNone;
  ExpiryIf expiry_if = ExpiryIf::kAlways;
  std::string operand;
  std::int64_t delta = 0;
  std::int64_t expires_ms = 0;
  bool want_previous = false;  // return the value before (MutationResult::previous)
};

// What a mutation found and did.
struct MutationResult {
  bool applied = false;  // the conditions held and a new version was written
  bool existed = false;  // the key had a live value before
  std::string previous;  // that value, with want_previous
  std::int64_t previous_expires_ms = 0;
  // The live value after the mutation (the current one when not applied):
  // its text for kIncrBy and kIncrByFloat (empty otherwise), its length, its
  // expiry (0: none), and whether there is one.
  bool exists = false;
  std::string number;
  std::size_t length = 0;
  std::int64_t expires_ms = 0;
};

// What a primary does about a mutation: write a new version (a value with
// its expiry, or a tombstone) or nothing, and what to answer. An error text
// means the mutation is refused as invalid (nothing written).
struct MutationDecision {
  bool write = false;
  bool deleted = false;
  std::string value;
  std::int64_t expires_ms = 0;
  MutationResult result;
  std::string error;  // non-empty: refused (InvalidArgument)
};

// Redis's wording of the refusals, which clients match on.
inline constexpr std::string_view kNotAnInteger = "value is not an integer or out of range";
inline constexpr std::string_view kNotAFloat = "value is not a valid float";
inline constexpr std::string_view kOverflow = "increment or decrement would overflow";
inline constexpr std::string_view kNotFinite = "increment would produce NaN or Infinity";

// A decimal signed 64-bit integer in its one canonical spelling (no sign
// but '-', no leading zeros, no spaces), as Redis reads counters and
// integer arguments.
inline std::optional<std::int64_t> parse_decimal_integer(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  char canonical[24];
  auto [cend, cec] = std::to_chars(canonical, canonical + sizeof canonical, v);
  if (cec != std::errc() ||
      std::string_view(canonical, static_cast<std::size_t>(cend - canonical)) != s)
    return std::nullopt;
  return v;
}

namespace mutation_detail {

// A decimal number (strtold's syntax, nothing before or after it, not NaN).
inline std::optional<long double> parse_float(std::string_view s) {
  if (s.empty() || s.size() > 5000) return std::nullopt;
  const std::string text(s);
  if (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r' || text[0] == '\v' ||
      text[0] == '\f')
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long double v = std::strtold(text.c_str(), &end);
  if (end != text.c_str() + text.size() || std::isnan(v)) return std::nullopt;
  // Out of range (overflow to infinity or underflow to zero): refused.
  if (errno == ERANGE && (std::isinf(v) || v == 0)) return std::nullopt;
  return v;
}

// A number as INCRBYFLOAT answers it: 17 decimals, trailing zeros (and a
// trailing point) removed, no negative zero.
inline std::string format_float(long double v) {
  char buf[5120];
  const int n = std::snprintf(buf, sizeof buf, "%.17Lf", v);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return "0";
  std::string out(buf, static_cast<std::size_t>(n));
  if (out.find('.') != std::string::npos) {
    while (!out.empty() && out.back() == '0') out.pop_back();
    if (!out.empty() && out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

}  // namespace mutation_detail

// Decides `m` against the key's current state: `live` (a live value), its
// `value` and `expires_ms`, at `now_ms` (Unix ms; decides whether the value
// written is live at once). Pure: the caller reads the current state and
// writes the decision under one lock.
inline MutationDecision decide_mutation(const Mutation& m, bool live, std::string_view value,
                                        std::int64_t expires_ms, std::int64_t now_ms) {
  MutationDecision d;
  MutationResult& r = d.result;
  r.existed = live;
  if (live && m.want_previous) {
    r.previous = std::string(value);
    r.previous_expires_ms = expires_ms;
  }
  auto unchanged = [&]() -> MutationDecision& {
    r.exists = live;
    r.length = live ? value.size() : 0;
    r.expires_ms = live ? expires_ms : 0;
    return d;
  };
  if ((m.condition == Mutation::If::kAbsent && live) ||
      (m.condition == Mutation::If::kPresent && !live))
    return unchanged();
  const std::int64_t keep = live ? expires_ms : 0;
  std::int64_t new_expiry = 0;
  switch (m.expiry) {
    case Mutation::Expiry::kNone:
      new_expiry = 0;
      break;
    case Mutation::Expiry::kKeep:
      new_expiry = keep;
      break;
    case Mutation::Expiry::kAt:
      new_expiry = m.expires_ms;
      break;
  }
  switch (m.op) {
    case Mutation::Op::kSet:
      d.value = m.operand;
      break;
    case Mutation::Op::kDelete:
      if (!live) return unchanged();
      d.write = true;
      d.deleted = true;
      r.applied = true;
      return d;  // exists false, length 0
    case Mutation::Op::kAppend:
      d.value.reserve((live ? value.size() : 0) + m.operand.size());
      if (live) d.value.assign(value);
      d.value.append(m.operand);
      break;
    case Mutation::Op::kIncrBy: {
      std::int64_t base = 0;
      if (live) {
        auto n = parse_decimal_integer(value);
        if (!n) {
          d.error = std::string(kNotAnInteger);
          return d;
        }
        base = *n;
      }
      std::int64_t sum = 0;
      if (__builtin_add_overflow(base, m.delta, &sum)) {
        d.error = std::string(kOverflow);
        return d;
      }
      d.value = std::to_string(sum);
      r.number = d.value;
      break;
    }
    case Mutation::Op::kIncrByFloat: {
      long double base = 0;
      if (live) {
        auto n = mutation_detail::parse_float(value);
        if (!n) {
          d.error = std::string(kNotAFloat);
          return d;
        }
        base = *n;
      }
      auto add = mutation_detail::parse_float(m.operand);
      if (!add) {
        d.error = std::string(kNotAFloat);
        return d;
      }
      const long double sum = base + *add;
      if (!std::isfinite(sum)) {
        d.error = std::string(kNotFinite);
        return d;
      }
      d.value = mutation_detail::format_float(sum);
      r.number = d.value;
      break;
    }
    case Mutation::Op::kTouch: {
      if (!live) return unchanged();
      // No expiry counts as infinitely late.
      const bool has = expires_ms != 0;
      const bool earlier = new_expiry != 0 && (!has || new_expiry < expires_ms);
      bool ok = true;
      switch (m.expiry_if) {
        case Mutation::ExpiryIf::kAlways:
          break;
        case Mutation::ExpiryIf::kNone:
          ok = !has;
          break;
        case Mutation::ExpiryIf::kSome:
          ok = has;
          break;
        case Mutation::ExpiryIf::kLater:
          ok = has && new_expiry != 0 && new_expiry > expires_ms;
          break;
        case Mutation::ExpiryIf::kEarlier:
          ok = earlier;
          break;
        case Mutation::ExpiryIf::kSomeEarlier:
          ok = has && earlier;
          break;
      }
      if (!ok) return unchanged();
      d.value = std::string(value);
      break;
    }
  }
  d.write = true;
  d.expires_ms = new_expiry;
  r.applied = true;
  r.exists = !(new_expiry != 0 && new_expiry <= now_ms);
  r.length = r.exists ? d.value.size() : 0;
  r.expires_ms = r.exists ? new_expiry : 0;
  return d;
}

}  // namespace dendrite::dtable
