// What Credentials hold: the wire library's CURVE identity (kept out of the
// public header).
#pragma once

#include "dendrite/client/credentials.h"
#include "dendrite/wire/curve_keys.h"

namespace dendrite::client {

struct Credentials::Impl {
  wire::CurveIdentity identity;
};

}  // namespace dendrite::client
