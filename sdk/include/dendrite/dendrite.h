// Everything a plugin needs, in one include.
#pragma once

#include "dendrite/hooks.h"
#include "dendrite/host.h"
#include "dendrite/id.h"
#include "dendrite/logger.h"
#include "dendrite/message.h"
#include "dendrite/metrics.h"
#include "dendrite/plugin.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
