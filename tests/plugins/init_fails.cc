// Broken test plugin `init_fails`: init() returns an error.
#include "dendrite/dendrite.h"

namespace {

class InitFailsPlugin final : public dendrite::Plugin {
 public:
  dendrite::Status init(const std::string&, dendrite::PluginContext&) override {
    return dendrite::Status::InvalidArgument("bad setting 'x'");
  }
  dendrite::Status start() override { return dendrite::Status::Ok(); }
  void stop() override {}
};

}  // namespace

DENDRITE_PLUGIN(InitFailsPlugin)
