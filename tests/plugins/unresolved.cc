// Broken test plugin `unresolved`: calls a function no library defines, so
// loading it with RTLD_NOW fails ("cannot load: ... undefined symbol ...").
#include "dendrite/dendrite.h"

extern "C" int dendrite_test_symbol_nobody_defines();

namespace {

class UnresolvedPlugin final : public dendrite::Plugin {
 public:
  dendrite::Status init(const std::string&, dendrite::PluginContext&) override {
    return dendrite_test_symbol_nobody_defines() == 0 ? dendrite::Status::Ok()
                                                      : dendrite::Status::Internal("unreachable");
  }
  dendrite::Status start() override { return dendrite::Status::Ok(); }
  void stop() override {}
};

}  // namespace

DENDRITE_PLUGIN(UnresolvedPlugin)
