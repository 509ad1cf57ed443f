#include "settings.h"

#include <nlohmann/json.hpp>

#include "dendrite/address.h"
#include "dendrite/config_reader.h"

namespace dendrite::resp {
namespace {

constexpr IntRange kConsistency{1, 65};
constexpr IntRange kWorkers{1, 1024};
constexpr IntRange kClients{1, 1'000'000};
constexpr IntRange kBulkBytes{1024, std::int64_t{1} << 32};
constexpr IntRange kQueryBytes{1 << 16, std::int64_t{1} << 34};
constexpr IntRange kOutputBytes{1 << 16, std::int64_t{1} << 34};

}  // namespace

Result<Settings> parse_settings(const std::string& config_json) {
  const nlohmann::json doc = nlohmann::json::parse(config_json, nullptr, false);
  if (!doc.is_object()) return Status::InvalidArgument("resp config: must be a JSON object");
  const ConfigReader r(doc, "resp config: ", "",
                       {"listen", "consistency", "workers", "max_clients", "max_bulk_bytes",
                        "max_query_buffer_bytes", "output_buffer_bytes", "allow_flushall"});
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
  return out;
}

}  // namespace dendrite::resp
