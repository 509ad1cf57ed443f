// The host's logging: spdlog loggers writing to stderr, and the SDK Logger
// handed to plugins.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "dendrite/logger.h"

namespace dendrite::host {

// Sets the level of every host and plugin logger (existing and future).
// Thread-safe.
void set_log_level(LogLevel level);
LogLevel log_level();

// The logger named `name` (created on first use, shared afterwards), writing to
// stderr. Thread-safe.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

// An SDK Logger over the spdlog logger `name`.
std::shared_ptr<Logger> make_plugin_logger(const std::string& name);

}  // namespace dendrite::host
