// The host's service registry is the SDK's dendrite::ServiceRegistry
// (sdk/include/dendrite/service_registry.h), shared with testing::FakeHost.
#pragma once

#include "dendrite/service_registry.h"

namespace dendrite::host {

using ServiceRegistry = ::dendrite::ServiceRegistry;

}  // namespace dendrite::host
