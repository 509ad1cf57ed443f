// Reading a JSON config object with the errors users expect of Dendrite: one
// line that names the field, its allowed range or shape, and for a misspelt
// key the nearest valid one ("resp config: unknown key 'lisen' (did you mean
// 'listen'?)"). The host reads its own config with it; plugins read theirs.
//
// Header-only over nlohmann::json (the SDK package finds nlohmann_json; link
// nlohmann_json::nlohmann_json to use it). Not thread-safe; a reader only
// borrows its JSON object, which must outlive it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dendrite/host.h"
#include "dendrite/status.h"

namespace dendrite {

// An inclusive range of allowed integers.
struct IntRange {
  std::int64_t min;
  std::int64_t max;
};

// Edit distance with adjacent transpositions (optimal string alignment):
// "nmae" is one step from "name".
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// The candidate nearest to `word` by edit_distance (the first of equals), or
// "" when there is none.
template <typename Range>
std::string_view nearest_name(std::string_view word, const Range& candidates) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string_view candidate : candidates) {
    const std::size_t dist = edit_distance(word, candidate);
    if (dist < best_distance) {
      best_distance = dist;
      best = candidate;
    }
  }
  return best;
}

// Reads the members of one JSON object. Every error is InvalidArgument with
// the text "<origin>'<path>' <problem>", where origin is e.g. "config: " and
// path is the key after the object's own prefix ("workers.min").
class ConfigReader {
 public:
  // `obj` must be an object (see object()); `valid` lists every key it may hold.
  ConfigReader(const nlohmann::json& obj, std::string origin, std::string prefix,
               std::initializer_list<std::string_view> valid)
      : obj_(obj), origin_(std::move(origin)), prefix_(std::move(prefix)), valid_(valid) {}

  // The first key that is not valid, with the nearest valid one. Call it
  // before reading members, so a misspelt key is reported as such rather than
  // as a missing one.
  Status keys() const {
    for (const auto& [key, value] : obj_.items()) {
      if (std::find(valid_.begin(), valid_.end(), key) != valid_.end()) continue;
      return Status::InvalidArgument(origin_ + "unknown key '" + path(key) + "' (did you mean '" +
                                     path(nearest_name(key, valid_)) + "'?)");
    }
    return Status::Ok();
  }

  // The member `key` if present (`key` must be one of the valid keys).
  const nlohmann::json* find(std::string_view key) const {
    auto it = obj_.find(std::string(key));
    return it == obj_.end() ? nullptr : &*it;
  }

  std::string path(std::string_view key) const { return prefix_ + std::string(key); }

  // "<origin>'<path>' <problem>".
  Status error(std::string_view key, const std::string& problem) const {
    return Status::InvalidArgument(origin_ + "'" + path(key) + "' " + problem);
  }

  Status range_error(std::string_view key, IntRange r) const {
    return error(
        key, "must be an integer from " + std::to_string(r.min) + " to " + std::to_string(r.max));
  }

  // Reads an integer member in `r` into `out`; absent leaves `out` alone.
  Status take_int64(std::string_view key, IntRange r, std::int64_t& out) const {
    const nlohmann::json* v = find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number_integer()) return range_error(key, r);
    std::int64_t value;
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return range_error(key, r);
      }
      value = static_cast<std::int64_t>(u);
    } else {
      value = v->get<std::int64_t>();
    }
    if (value < r.min || value > r.max) return range_error(key, r);
    out = value;
    return Status::Ok();
  }

  template <typename Int>
  Status take_int(std::string_view key, IntRange r, Int& out) const {
    std::int64_t v = static_cast<std::int64_t>(out);
    if (Status s = take_int64(key, r, v); !s.ok()) return s;
    out = static_cast<Int>(v);
    return Status::Ok();
  }

  Status take_ms(std::string_view key, IntRange r, Milliseconds& out) const {
    std::int64_t v = out.count();
    if (Status s = take_int64(key, r, v); !s.ok()) return s;
    out = Milliseconds(v);
    return Status::Ok();
  }

  Status take_bool(std::string_view key, bool& out) const {
    const nlohmann::json* v = find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean()) return error(key, "must be true or false");
    out = v->get<bool>();
    return Status::Ok();
  }

  // Reads a string member; `non_empty` refuses "".
  Status take_string(std::string_view key, bool non_empty, std::string& out) const {
    const nlohmann::json* v = find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string() || (non_empty && v->get<std::string>().empty())) {
      return error(key, non_empty ? "must be a non-empty string" : "must be a string");
    }
    out = v->get<std::string>();
    return Status::Ok();
  }

  // The member `key` when it is an object (nullptr when absent); another type
  // is an error.
  Status take_object(std::string_view key, const nlohmann::json*& out) const {
    out = find(key);
    if (out != nullptr && !out->is_object()) return error(key, "must be an object");
    return Status::Ok();
  }

  // A reader of the object member `key` (which take_object() found).
  ConfigReader nested(std::string_view key, const nlohmann::json& obj,
                      std::initializer_list<std::string_view> valid) const {
    return ConfigReader(obj, origin_, path(key) + ".", valid);
  }

 private:
  const nlohmann::json& obj_;
  std::string origin_;
  std::string prefix_;
  std::vector<std::string_view> valid_;
};

}  // namespace dendrite
