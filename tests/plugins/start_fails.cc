// Broken test plugin `start_fails`: init() succeeds, start() returns an error.
#include "dendrite/dendrite.h"

namespace {

class StartFailsPlugin final : public dendrite::Plugin {
 public:
  dendrite::Status init(const std::string&, dendrite::PluginContext&) override {
    return dendrite::Status::Ok();
  }
  dendrite::Status start() override {
    return dendrite::Status::Unavailable("port 1 is not available");
  }
  void stop() override {}
};

}  // namespace

DENDRITE_PLUGIN(StartFailsPlugin)
