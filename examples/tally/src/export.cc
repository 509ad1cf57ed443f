// The library's exports: the factory, the ABI version and the descriptor.
#include "tally.h"

// [snippet descriptor]
namespace {
constexpr dendrite::MessageType kClaims[] = {tally::kAdd, tally::kGet, tally::kValue};
constexpr const char* kRequires[] = {"dtable>=0.1"};  // loaded and started before tally
}  // namespace

DENDRITE_PLUGIN_DESCRIBED(tally::TallyPlugin,
                          dendrite::PluginDescriptor{.name = "tally", .version = "1.0.0"}
                              .with_types(kClaims)
                              .with_requires(kRequires))
// [end snippet]
