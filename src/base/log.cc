#include "base/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <utility>

namespace pp::log {
namespace {

Level initialLevel() {
  Level l = Level::kInfo;
  if (const char* env = std::getenv("PEERPODS_LOG_LEVEL")) parseLevel(env, &l);
  return l;
}

std::atomic<int>& levelStore() {
  static std::atomic<int> value{static_cast<int>(initialLevel())};
  return value;
}

Format initialFormat() {
  Format f = Format::kText;
  if (const char* env = std::getenv("LOG_FORMAT")) parseFormat(env, &f);
  return f;
}

std::atomic<int>& formatStore() {
  static std::atomic<int> value{static_cast<int>(initialFormat())};
  return value;
}

std::mutex& outputMutex() {
  static std::mutex m;
  return m;
}

std::function<void(std::string_view)>& testSink() {
  static std::function<void(std::string_view)> sink;
  return sink;
}

// Our component names and the prefix of the upstream package that logs the same events
// (upstream's `log.New(log.Writer(), "[<prefix>] ", log.LstdFlags|log.Lmsgprefix)` loggers).
struct ComponentName {
  std::string_view ours;
  std::string_view upstream;
};
constexpr ComponentName kUpstreamComponents[] = {
    {"sandbox", "adaptor/cloud"},  // pkg/adaptor/cloud/cloud.go: CreateVM/StartVM/StopVM
    {"hypervisor", "adaptor/cloud"},
    {"providers", "adaptor/cloud"},  // cloud-providers/util.go
    {"proxy", "adaptor/proxy"},
    {"adaptor", "adaptor"},
    {"kube", "util/k8sops"},
    {"probe", "probe/probe"},
    {"podnetwork", "podnetwork"},
    {"forwarder", "forwarder"},
    {"userdata", "userdata/provision"},
    {"aws", "adaptor/cloud/aws"},
    {"azure", "adaptor/cloud/azure"},
    {"gcp", "adaptor/cloud/gcp"},
    {"libvirt", "adaptor/cloud/libvirt"},
    {"docker", "adaptor/cloud/docker"},
    {"byom", "adaptor/cloud/byom"},
    {"ibmcloud", "adaptor/cloud/ibmcloud"},
    {"ibmcloud-powervs", "adaptor/cloud/ibmcloud-powervs"},
    {"alibabacloud", "adaptor/cloud/alibabacloud"},
    {"vsphere", "adaptor/cloud/vsphere"},
};

bool isLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// "<64 hex>: ..." or "sandbox <64 hex>: ...": the id; empty otherwise.
std::string_view leadingSandboxId(std::string_view message) {
  constexpr size_t kIdLength = 64;
  if (message.starts_with("sandbox ")) message.remove_prefix(8);
  if (message.size() <= kIdLength || message[kIdLength] != ':') return {};
  std::string_view id = message.substr(0, kIdLength);
  return isLowerHex(id) ? id : std::string_view{};
}

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not valid UTF-8.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

// A JSON string: control characters as \u00XX, bytes that are not UTF-8 as U+FFFD, so that
// every line parses whatever a pod name or an error text holds.
void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (size_t n = utf8SequenceLength(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n - 1;
    } else {
      out += "\\ufffd";
    }
  }
  out += '"';
}

const char* levelName(Level l);

const char* jsonLevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

// Go's log.LstdFlags layout: local time to the second (containers run in UTC unless TZ says
// otherwise, as for the Go binaries), the prefix, then the message; the level word leads the
// message except for info, where upstream's e2e regexes expect the message right after the
// prefix.
std::string textLine(Level l, std::string_view component, std::string_view sandboxId,
                     std::string_view message, std::chrono::system_clock::time_point now) {
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", &tm);
  std::string line = fmt::format("{} [{}] ", stamp, escapeControl(upstreamComponent(component)));
  if (l != Level::kInfo) line += fmt::format("{}: ", levelName(l));
  line += escapeControl(message);
  if (!sandboxId.empty() && message.find(sandboxId) == std::string_view::npos)
    line += " sandbox=" + escapeControl(sandboxId);
  line += '\n';
  return line;
}

// One JSON object; time in RFC 3339 UTC with microseconds, as log collectors sort by it.
std::string jsonLine(Level l, std::string_view component, std::string_view sandboxId,
                     std::string_view message, std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  std::time_t secs = system_clock::to_time_t(now);
  auto micros = duration_cast<microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = fmt::format(R"({{"time":"{}.{:06d}Z","level":"{}","component":)", stamp,
                                 micros, jsonLevelName(l));
  appendJsonString(line, upstreamComponent(component));
  line += R"(,"msg":)";
  appendJsonString(line, message);
  if (sandboxId.empty()) sandboxId = leadingSandboxId(message);
  if (!sandboxId.empty()) {
    line += R"(,"sandbox_id":)";
    appendJsonString(line, sandboxId);
  }
  line += "}\n";
  return line;
}

const char* levelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarn:
      return "WARN";
    case Level::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

std::string environmentError() {
  if (const char* v = std::getenv("PEERPODS_LOG_LEVEL"); v && *v) {
    Level l;
    if (!parseLevel(v, &l))
      return fmt::format(
          "invalid value {} for environment variable PEERPODS_LOG_LEVEL: must be debug, info, "
          "warn or error",
          quote(v));
  }
  if (const char* v = std::getenv("LOG_FORMAT"); v && *v) {
    Format f;
    if (!parseFormat(v, &f))
      return fmt::format(
          "invalid value {} for environment variable LOG_FORMAT: must be text or json", quote(v));
  }
  return "";
}

void setLevel(Level l) {
  levelStore().store(static_cast<int>(l), std::memory_order_relaxed);
}

void setFormat(Format f) {
  formatStore().store(static_cast<int>(f), std::memory_order_relaxed);
}

Format format() {
  return static_cast<Format>(formatStore().load(std::memory_order_relaxed));
}

bool parseFormat(std::string_view text, Format* out) {
  if (text == "text")
    *out = Format::kText;
  else if (text == "json")
    *out = Format::kJson;
  else
    return false;
  return true;
}

std::string_view upstreamComponent(std::string_view component) {
  for (const auto& c : kUpstreamComponents)
    if (c.ours == component) return c.upstream;
  return component;
}

void setSinkForTest(std::function<void(std::string_view line)> sink) {
  std::lock_guard lock(outputMutex());
  testSink() = std::move(sink);
}

Level level() {
  return static_cast<Level>(levelStore().load(std::memory_order_relaxed));
}

bool parseLevel(std::string_view text, Level* out) {
  if (text == "debug")
    *out = Level::kDebug;
  else if (text == "info")
    *out = Level::kInfo;
  else if (text == "warn" || text == "warning")
    *out = Level::kWarn;
  else if (text == "error")
    *out = Level::kError;
  else
    return false;
  return true;
}

std::string escapeControl(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

std::string quote(std::string_view text) {
  constexpr size_t kMax = 200;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (text.size() > kMax) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

void write(Level l, std::string_view component, Sandbox sandbox, std::string_view message) {
  const auto now = std::chrono::system_clock::now();
  std::string line = format() == Format::kJson ? jsonLine(l, component, sandbox.id, message, now)
                                               : textLine(l, component, sandbox.id, message, now);
  std::lock_guard lock(outputMutex());
  if (testSink()) {
    testSink()(line);
    return;
  }
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

void write(Level l, std::string_view component, std::string_view message) {
  write(l, component, Sandbox(std::string_view{}), message);
}

}  // namespace pp::log
