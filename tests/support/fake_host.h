// The fake Host moved into the SDK (dendrite/testing/fake_host.h) so plugin
// authors get it too; this header keeps the tests' includes working.
#pragma once

#include "dendrite/testing/fake_host.h"
