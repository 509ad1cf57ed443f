// Broken test plugin `not_a_plugin`: a shared object without the Dendrite
// export aliases. The loader must refuse it ("not a Dendrite plugin").
#include <boost/config.hpp>

extern "C" BOOST_SYMBOL_EXPORT int dendrite_test_not_a_plugin() {
  return 42;
}
