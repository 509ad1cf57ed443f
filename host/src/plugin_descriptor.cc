#include "host/plugin_descriptor.h"

#include <algorithm>
#include <charconv>
#include <system_error>
#include <utility>

namespace dendrite::host {

std::optional<Version> parse_version(std::string_view text) {
  Version parts;
  if (text.empty()) return std::nullopt;
  for (;;) {
    std::size_t dot = text.find('.');
    std::string_view part = text.substr(0, dot);
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) return std::nullopt;
    parts.push_back(value);
    if (dot == std::string_view::npos) return parts;
    text.remove_prefix(dot + 1);
  }
}

bool version_less(Version a, Version b) {
  std::size_t n = std::max(a.size(), b.size());
  a.resize(n, 0);
  b.resize(n, 0);
  return a < b;
}

std::optional<Requirement> parse_requirement(std::string_view text) {
  Requirement r{std::string(text), {}, std::nullopt};
  std::size_t op = text.find(">=");
  std::string_view name = text.substr(0, op);
  if (name.empty() || name.find_first_of(" <>=") != std::string_view::npos) return std::nullopt;
  r.name = std::string(name);
  if (op != std::string_view::npos) {
    r.min_version = parse_version(text.substr(op + 2));
    if (!r.min_version) return std::nullopt;
  }
  return r;
}

Result<std::vector<Requirement>> check_descriptor(const PluginDescriptor& d) {
  auto malformed = [](const std::string& what) {
    return Status::InvalidArgument("malformed descriptor: " + what);
  };
  if (d.name == nullptr || *d.name == '\0') return malformed("empty name");
  if (d.version == nullptr || !parse_version(d.version)) {
    return malformed(std::string("version '") + (d.version ? d.version : "") +
                     "' is not dotted numbers");
  }
  if (d.message_type_count > 0 && d.message_types == nullptr) return malformed("no message types");
  if (d.requirement_count > 0 && d.requirements == nullptr) return malformed("no requirements");
  std::vector<Requirement> requirements;
  for (std::size_t i = 0; i < d.requirement_count; ++i) {
    const char* text = d.requirements[i];
    std::optional<Requirement> r = text ? parse_requirement(text) : std::nullopt;
    if (!r) {
      return Status::InvalidArgument(std::string("malformed requirement '") + (text ? text : "") +
                                     "' (expected 'name' or 'name>=version')");
    }
    requirements.push_back(std::move(*r));
  }
  return requirements;
}

}  // namespace dendrite::host
