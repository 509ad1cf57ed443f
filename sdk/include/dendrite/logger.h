// The logger the host gives each plugin, named after it.
#pragma once

#include <string_view>

namespace dendrite {

enum class LogLevel : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

// A named log sink. Thread-safe: any thread may log at any time between the
// plugin's init() and the return of its stop().
class Logger {
 public:
  virtual ~Logger() = default;
  // Writes one line at `level` if that level is enabled.
  virtual void log(LogLevel level, std::string_view line) = 0;
  // True when lines at `level` are written (check before formatting costly text).
  virtual bool enabled(LogLevel level) const = 0;

  void trace(std::string_view l) { log(LogLevel::kTrace, l); }
  void debug(std::string_view l) { log(LogLevel::kDebug, l); }
  void info(std::string_view l) { log(LogLevel::kInfo, l); }
  void warn(std::string_view l) { log(LogLevel::kWarn, l); }
  void error(std::string_view l) { log(LogLevel::kError, l); }
};

}  // namespace dendrite
