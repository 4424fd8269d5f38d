// A small logger: one line per event to stderr, thread-safe. Secrets must never be passed to it
// (see docs/style: callers log ids, not payloads).
//
// The default (text) layout is the one upstream's Go daemons write (log.LstdFlags|log.Lmsgprefix
// with a per-package prefix), because upstream's e2e suite and operators' alerting parse it:
//   2026/12/02 02:09:52 [adaptor/cloud] create a sandbox <id> for pod <name> in namespace <ns>
//   2026/12/02 02:09:53 [adaptor/cloud/aws] ERROR: deleting instance i-0abc: ...
// Our short component names ("sandbox", "aws") map to upstream's prefixes in log.cc. Info lines
// carry no level word (upstream's regexes expect the message right after the prefix); the other
// levels put it first in the message. `-log-format json` (LOG_FORMAT) writes one JSON object a
// line instead: {"time","level","component","msg"[,"sandbox_id"]}.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <functional>
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

enum class Format : int { kText = 0, kJson = 1 };

// The initial format comes from LOG_FORMAT, so that every binary honours it, also those whose
// flag set reads no environment (the forwarder, as upstream's).
void setFormat(Format format);
Format format();
// Parses "text" or "json"; returns false for anything else.
bool parseFormat(std::string_view text, Format* out);

// The logger reads PEERPODS_LOG_LEVEL and LOG_FORMAT itself, leniently, before any flag is
// parsed. This checks them strictly: "" when each is unset, empty or a value the logger takes,
// else the error naming the variable. Every main calls it once and exits 1 on an error.
std::string environmentError();

// The prefix upstream's Go package logs under, for one of our component names: "sandbox" ->
// "adaptor/cloud", "aws" -> "adaptor/cloud/aws". Names upstream has no logger for are unchanged.
std::string_view upstreamComponent(std::string_view component);

// The sandbox a line is about, for the JSON "sandbox_id" field. Lines without one whose message
// starts with a 64-hex sandbox id and ':' (the "<id>: ..." convention) get that id.
struct Sandbox {
  explicit Sandbox(std::string_view sandboxId) : id(sandboxId) {}
  std::string_view id;
};

// Writes one line. Control characters in the component or message (a newline in a pod name or
// annotation, an escape sequence) are written as \xNN in text and as JSON escapes in JSON, so
// that nobody can forge a log line. A sandbox id the text message does not already contain is
// appended as " sandbox=<id>".
void write(Level level, std::string_view component, std::string_view message);
void write(Level level, std::string_view component, Sandbox sandbox, std::string_view message);

// Test hook: every line (with its '\n') goes to `sink` instead of stderr while one is set; an
// empty function restores stderr. Called under the logger's lock.
void setSinkForTest(std::function<void(std::string_view line)> sink);

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

// The same with the sandbox the line is about.
template <typename... Args>
void debug(std::string_view component, Sandbox sb, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kDebug)
    write(Level::kDebug, component, sb, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(std::string_view component, Sandbox sb, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kInfo)
    write(Level::kInfo, component, sb, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view component, Sandbox sb, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kWarn)
    write(Level::kWarn, component, sb, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(std::string_view component, Sandbox sb, fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, component, sb, fmt::format(f, std::forward<Args>(args)...));
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
