// Reading a plugin's PluginDescriptor (dendrite/plugin.h): its version, its
// requirements ("name" or "name>=version") and the checks the loader makes
// before it creates the plugin. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/plugin.h"
#include "dendrite/status.h"

namespace dendrite::host {

// A version as its dotted numbers ("1.2.0" -> {1, 2, 0}).
using Version = std::vector<unsigned long>;

// `text` as dotted decimal numbers, or nullopt when it is anything else.
std::optional<Version> parse_version(std::string_view text);

// a < b, missing trailing parts counting as 0 ("1.0" == "1").
bool version_less(Version a, Version b);

// One entry of PluginDescriptor::requirements.
struct Requirement {
  std::string text;                    // as written
  std::string name;                    // the plugin required
  std::optional<Version> min_version;  // set for "name>=version"
};

// "name" or "name>=version", or nullopt when malformed.
std::optional<Requirement> parse_requirement(std::string_view text);

// Checks `d` and parses its requirements. Errors (InvalidArgument) say what is
// wrong, as the loader reports it after "plugin '<name>' (<file>): ":
// "malformed descriptor: <what>" or "malformed requirement '<r>' (expected
// 'name' or 'name>=version')".
Result<std::vector<Requirement>> check_descriptor(const PluginDescriptor& d);

}  // namespace dendrite::host
