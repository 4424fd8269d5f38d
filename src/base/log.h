// A small structured logger: one line per event, "time level component: message key=value ...",
// to stderr. Thread-safe. Secrets must never be passed to it (see docs/style: callers log ids,
// not payloads).
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace pp::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void setLevel(Level level);
Level level();
// Parses "debug", "info", "warn", "error"; returns false for anything else.
bool parseLevel(std::string_view text, Level* out);

// Writes one line. Control characters in the component or message (a newline in a pod name or
// annotation, an escape sequence) are written as \xNN, so that nobody can forge a log line.
void write(Level level, std::string_view component, std::string_view message);

// `text` with control characters (except tab) written as \xNN.
std::string escapeControl(std::string_view text);

// Untrusted text for a message: in double quotes, '"' and '\\' escaped, control and non-ASCII
// bytes as \xNN, cut at 200 bytes (with the full length noted).
std::string quote(std::string_view text);

template <typename... Args>
void debug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kDebug)
    write(Level::kDebug, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kInfo)
    write(Level::kInfo, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kWarn)
    write(Level::kWarn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, component, fmt::format(f, std::forward<Args>(args)...));
}

// Warnings that a peer can trigger at will (failed accepts, failed handshakes): at most one
// line a second, which counts the lines held back since the last one. Thread-safe.
class RateLimitedWarning {
 public:
  template <typename... Args>
  void warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (last_ && now - *last_ < std::chrono::seconds(1)) {
      ++suppressed_;
      return;
    }
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    if (suppressed_ > 0) line += fmt::format(" ({} similar messages suppressed)", suppressed_);
    log::warn(component, "{}", line);
    last_ = now;
    suppressed_ = 0;
  }

 private:
  std::mutex mu_;
  std::optional<std::chrono::steady_clock::time_point> last_;
  size_t suppressed_ = 0;
};

}  // namespace pp::log
