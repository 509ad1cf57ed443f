#include "host/logging.h"

#include <atomic>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace dendrite::host {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

class SpdPluginLogger final : public Logger {
 public:
  explicit SpdPluginLogger(std::shared_ptr<spdlog::logger> l) : logger_(std::move(l)) {}
  void log(LogLevel level, std::string_view line) override {
    logger_->log(to_spdlog(level), "{}", line);
  }
  bool enabled(LogLevel level) const override { return logger_->should_log(to_spdlog(level)); }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

void set_log_level(LogLevel level) {
  g_level = level;
  spdlog::apply_all(
      [level](const std::shared_ptr<spdlog::logger>& l) { l->set_level(to_spdlog(level)); });
}

LogLevel log_level() {
  return g_level.load();
}

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_level(to_spdlog(g_level.load()));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  return logger;
}

std::shared_ptr<Logger> make_plugin_logger(const std::string& name) {
  return std::make_shared<SpdPluginLogger>(get_logger(name));
}

}  // namespace dendrite::host
