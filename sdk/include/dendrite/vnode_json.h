// A Vnode as JSON: the object {"id": "<40 hex digits>", "host": "host:port"}
// that the host's status document, the client's ring view and the metrics
// plugin's /ring all use. Header-only: the includer links nlohmann_json (the
// SDK itself does not). Pure functions, any thread.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "dendrite/id.h"
#include "dendrite/vnode.h"

namespace dendrite {

inline nlohmann::json vnode_to_json(const Vnode& v) {
  return nlohmann::json{{"id", v.id.hex()}, {"host", v.host}};
}

// The vnode an object of that shape names; nullopt for anything else (not an
// object, a missing or non-string field, an id that is not 40 hex digits).
inline std::optional<Vnode> vnode_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  auto id = j.find("id");
  auto host = j.find("host");
  if (id == j.end() || host == j.end() || !id->is_string() || !host->is_string()) {
    return std::nullopt;
  }
  auto parsed = Id::from_hex(id->get<std::string>());
  if (!parsed) return std::nullopt;
  return Vnode{*parsed, host->get<std::string>()};
}

}  // namespace dendrite
