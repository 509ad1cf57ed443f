#include "settings.h"

#include <charconv>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace dendrite::metrics {
namespace {

using nlohmann::json;

Status key_error(const std::string& key, const std::string& problem) {
  return Status::InvalidArgument("config key '" + key + "' " + problem);
}

// Reads an integer member in [min, max] into `out`, if present.
Status take_int(const json& doc, const char* key, std::int64_t min, std::int64_t max,
                std::int64_t& out) {
  auto it = doc.find(key);
  if (it == doc.end()) return Status::Ok();
  const Status bad = key_error(
      key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  if (!it->is_number_integer()) return bad;
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    return bad;
  }
  const auto v = it->get<std::int64_t>();
  if (v < min || v > max) return bad;
  out = v;
  return Status::Ok();
}

}  // namespace

Result<Settings> parse_settings(const std::string& config_json) {
  json doc = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::InvalidArgument("config must be a JSON object");
  for (const auto& [key, value] : doc.items()) {
    if (key != "listen" && key != "threads" && key != "timeout_ms" && key != "bearer_token_file" &&
        key != "tls") {
      return Status::InvalidArgument(
          "unknown config key '" + key +
          "' (valid keys: listen, threads, timeout_ms, bearer_token_file, tls)");
    }
  }
  Settings s;
  if (auto it = doc.find("listen"); it != doc.end()) {
    const Status bad =
        key_error("listen", "must be a host:port string with a port from 0 to 65535 (got " +
                                it->dump() + ")");
    if (!it->is_string()) return bad;
    const std::string text = it->get<std::string>();
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return bad;
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host.find_first_of(" \t\r\n") != std::string::npos) return bad;
    int port = -1;
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(first, last, port);
    if (ec != std::errc() || end != last || port < 0 || port > 65535) return bad;
    s.host = std::move(host);
    s.port = port;
  }
  std::int64_t threads = s.threads, timeout = s.timeout.count();
  if (Status st = take_int(doc, "threads", 1, 64, threads); !st.ok()) return st;
  if (Status st = take_int(doc, "timeout_ms", 1, 600000, timeout); !st.ok()) return st;
  s.threads = static_cast<int>(threads);
  s.timeout = Milliseconds(timeout);
  if (auto it = doc.find("bearer_token_file"); it != doc.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) {
      return key_error("bearer_token_file", "must be a non-empty string (a file's path)");
    }
    s.bearer_token_file = it->get<std::string>();
  }
  if (auto it = doc.find("tls"); it != doc.end()) {
    const Status bad = key_error(
        "tls",
        "must be an object with the paths \"cert_file\" and \"key_file\" (and nothing else)");
    if (!it->is_object() || it->size() != 2) return bad;
    for (const char* k : {"cert_file", "key_file"}) {
      auto f = it->find(k);
      if (f == it->end() || !f->is_string() || f->get<std::string>().empty()) return bad;
    }
    s.tls_cert_file = (*it)["cert_file"].get<std::string>();
    s.tls_key_file = (*it)["key_file"].get<std::string>();
  }
  return s;
}

}  // namespace dendrite::metrics
