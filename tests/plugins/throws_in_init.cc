// Broken test plugin `throws_in_init`: init() throws; the host must catch it.
#include <stdexcept>

#include "dendrite/dendrite.h"

namespace {

class ThrowsInInitPlugin final : public dendrite::Plugin {
 public:
  dendrite::Status init(const std::string&, dendrite::PluginContext&) override {
    throw std::runtime_error("throws_in_init always throws");
  }
  dendrite::Status start() override { return dendrite::Status::Ok(); }
  void stop() override {}
};

}  // namespace

DENDRITE_PLUGIN(ThrowsInInitPlugin)
