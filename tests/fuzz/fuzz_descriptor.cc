// Fuzz target: the plugin descriptor checks (host/plugin_descriptor.h): the
// version, the requirements ("name" or "name>=version") and the claims a
// plugin's PluginDescriptor carries. Input: records (records.h): the first is
// the name, the second the version, every later one a requirement (tag bit 0
// set: a null pointer) or, with tag bit 1 set, message types claimed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "dendrite/message.h"
#include "dendrite/plugin.h"
#include "host/plugin_descriptor.h"
#include "records.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dendrite::host;  // NOLINT(google-build-using-namespace)
  dendrite::fuzz::RecordReader in(data, size);
  dendrite::fuzz::Record r;
  // The strings the descriptor points to (NUL-terminated, as in a library).
  std::vector<std::string> texts;
  std::vector<bool> null_text;
  std::vector<dendrite::MessageType> types;
  bool null_name = false;
  bool null_version = false;
  int index = 0;
  while (in.next(r)) {
    if (index >= 2 && (r.tag & 2)) {
      for (char c : r.bytes) types.push_back(static_cast<dendrite::MessageType>(c));
      continue;
    }
    if (index == 0) null_name = (r.tag & 1) != 0;
    if (index == 1) null_version = (r.tag & 1) != 0;
    texts.emplace_back(r.bytes);
    null_text.push_back((r.tag & 1) != 0);
    ++index;
  }
  while (texts.size() < 2) {
    texts.emplace_back();
    null_text.push_back(false);
  }
  std::vector<const char*> requirements;
  for (std::size_t i = 2; i < texts.size(); ++i) {
    requirements.push_back(null_text[i] ? nullptr : texts[i].c_str());
  }
  dendrite::PluginDescriptor d;
  d.name = null_name ? nullptr : texts[0].c_str();
  d.version = null_version ? nullptr : texts[1].c_str();
  d.message_types = types.empty() ? nullptr : types.data();
  d.message_type_count = types.size();
  d.requirements = requirements.empty() ? nullptr : requirements.data();
  d.requirement_count = requirements.size();

  auto parsed = check_descriptor(d);
  if (!parsed.ok()) {
    check(!parsed.status().message().empty());
    return 0;
  }
  check(parsed->size() == requirements.size());
  // The loader compares each requirement's minimum with the required plugin's
  // version; here, with this descriptor's own.
  const auto version = parse_version(d.version);
  check(version.has_value());
  for (const Requirement& req : *parsed) {
    check(!req.name.empty());
    if (req.min_version) {
      const bool less = version_less(*version, *req.min_version);
      const bool greater = version_less(*req.min_version, *version);
      check(!(less && greater));
    }
  }
  return 0;
}
