#include "settings.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "dendrite/address.h"
#include "dendrite/config_reader.h"
#include "dendrite/private_file.h"

namespace dendrite::resp {
namespace {

constexpr IntRange kConsistency{1, 65};
constexpr IntRange kWorkers{1, 1024};
constexpr IntRange kClients{1, 1'000'000};
constexpr IntRange kBulkBytes{1024, std::int64_t{1} << 32};
constexpr IntRange kQueryBytes{1 << 16, std::int64_t{1} << 34};
constexpr IntRange kOutputBytes{1 << 16, std::int64_t{1} << 34};
constexpr std::size_t kMaxPasswordBytes = 4096;

// Reads "users": [{"name": ..., "password": ... | "password_file": ...}].
Status take_users(const ConfigReader& top, std::vector<User>& out) {
  const nlohmann::json* list = top.find("users");
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return top.error("users", "must be a list of {name, password_file}");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string field = "users[" + std::to_string(i) + "]";
    const nlohmann::json& entry = (*list)[i];
    if (!entry.is_object()) return top.error(field, "must be an object {name, password_file}");
    const ConfigReader r = top.nested(field, entry, {"name", "password", "password_file"});
    if (Status s = r.keys(); !s.ok()) return s;
    User user;
    std::string file;
    if (Status s = r.take_string("name", true, user.name); !s.ok()) return s;
    if (Status s = r.take_string("password", true, user.password); !s.ok()) return s;
    if (Status s = r.take_string("password_file", true, file); !s.ok()) return s;
    if (user.name.empty()) return r.error("name", "is required");
    if (user.password.empty() == file.empty()) {
      return top.error(field, "needs exactly one of password and password_file");
    }
    if (!file.empty()) {
      auto text = read_private_file(file, kMaxPasswordBytes);
      if (!text.ok()) return r.error("password_file", text.status().message());
      user.password = *text;
      while (!user.password.empty() &&
             (user.password.back() == '\n' || user.password.back() == '\r')) {
        user.password.pop_back();
      }
      if (user.password.empty()) return r.error("password_file", "holds an empty password");
    }
    for (const User& u : out) {
      if (u.name == user.name) return r.error("name", "'" + user.name + "' is listed twice");
    }
    out.push_back(std::move(user));
  }
  return Status::Ok();
}

// Reads "tls": {"cert_file", "key_file", "ca_file", "client_certs"}.
Status take_tls(const ConfigReader& top, std::optional<TlsSettings>& out) {
  const nlohmann::json* obj = nullptr;
  if (Status s = top.take_object("tls", obj); !s.ok() || obj == nullptr) return s;
  const ConfigReader r =
      top.nested("tls", *obj, {"cert_file", "key_file", "ca_file", "client_certs"});
  if (Status s = r.keys(); !s.ok()) return s;
  TlsSettings tls;
  if (Status s = r.take_string("cert_file", true, tls.cert_file); !s.ok()) return s;
  if (Status s = r.take_string("key_file", true, tls.key_file); !s.ok()) return s;
  if (Status s = r.take_string("ca_file", true, tls.ca_file); !s.ok()) return s;
  if (tls.cert_file.empty()) return r.error("cert_file", "is required");
  if (tls.key_file.empty()) return r.error("key_file", "is required");
  std::string certs;
  if (Status s = r.take_string("client_certs", true, certs); !s.ok()) return s;
  if (certs.empty()) {
    tls.client_certs = tls.ca_file.empty() ? ClientCerts::kNone : ClientCerts::kRequired;
  } else if (certs == "none") {
    tls.client_certs = ClientCerts::kNone;
  } else if (certs == "optional" || certs == "required") {
    if (tls.ca_file.empty()) return r.error("client_certs", "'" + certs + "' needs a ca_file");
    tls.client_certs = certs == "optional" ? ClientCerts::kOptional : ClientCerts::kRequired;
  } else {
    return r.error("client_certs", "must be \"required\", \"optional\" or \"none\"");
  }
  out = std::move(tls);
  return Status::Ok();
}

bool loopback_ip(std::string_view ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

}  // namespace

bool refused_by_protected_mode(const Settings& settings, std::string_view peer_ip) {
  const bool certified = settings.tls && settings.tls->client_certs == ClientCerts::kRequired;
  return settings.protected_mode && settings.users.empty() && !certified &&
         !is_loopback_host(settings.host) && !loopback_ip(peer_ip);
}

const User* find_user(const Settings& settings, std::string_view name, std::string_view password) {
  const User* found = nullptr;
  for (const User& u : settings.users) {
    if (u.name != name) continue;
    unsigned char diff = u.password.size() == password.size() ? 0 : 1;
    for (std::size_t i = 0; i < password.size(); ++i) {
      diff |= static_cast<unsigned char>(
          u.password[i % std::max<std::size_t>(1, u.password.size())] ^ password[i]);
    }
    if (diff == 0) found = &u;
  }
  return found;
}

Result<Settings> parse_settings(const std::string& config_json) {
  const nlohmann::json doc = nlohmann::json::parse(config_json, nullptr, false);
  if (!doc.is_object()) return Status::InvalidArgument("resp config: must be a JSON object");
  const ConfigReader r(doc, "resp config: ", "",
                       {"listen", "consistency", "workers", "max_clients", "max_bulk_bytes",
                        "max_query_buffer_bytes", "output_buffer_bytes", "allow_flushall",
                        "protected_mode", "users", "tls"});
  if (Status s = r.keys(); !s.ok()) return s;
  Settings out;
  std::string listen;
  if (Status s = r.take_string("listen", true, listen); !s.ok()) return s;
  if (!listen.empty()) {
    auto hp = parse_host_port(listen, 0);
    if (!hp.ok()) return r.error("listen", "must be host:port with a port from 0 to 65535");
    out.host = hp->host;
    out.port = hp->port;
  }
  if (Status s = r.take_int("consistency", kConsistency, out.consistency); !s.ok()) return s;
  if (Status s = r.take_int("workers", kWorkers, out.workers); !s.ok()) return s;
  if (Status s = r.take_int("max_clients", kClients, out.max_clients); !s.ok()) return s;
  if (Status s = r.take_int("max_bulk_bytes", kBulkBytes, out.max_bulk_bytes); !s.ok()) return s;
  if (Status s = r.take_int("max_query_buffer_bytes", kQueryBytes, out.max_query_buffer_bytes);
      !s.ok()) {
    return s;
  }
  if (Status s = r.take_int("output_buffer_bytes", kOutputBytes, out.output_buffer_bytes);
      !s.ok()) {
    return s;
  }
  if (Status s = r.take_bool("allow_flushall", out.allow_flushall); !s.ok()) return s;
  if (Status s = r.take_bool("protected_mode", out.protected_mode); !s.ok()) return s;
  if (Status s = take_users(r, out.users); !s.ok()) return s;
  if (Status s = take_tls(r, out.tls); !s.ok()) return s;
  return out;
}

}  // namespace dendrite::resp
