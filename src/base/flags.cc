#include "base/flags.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "base/log.h"
#include "base/strings.h"

namespace pp::flags {
namespace {

// The reasons Go's flag package reports for a value it cannot take; users of the Go binary
// see exactly these words, so we keep them.
constexpr std::string_view kParseError = "parse error";
constexpr std::string_view kRangeError = "value out of range";

Error invalid(std::string message) {
  return Error{Code::kInvalidArgument, std::move(message)};
}

// Go's %q for the strings help prints: enough escaping to keep the default readable and
// unambiguous.
std::string goQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

// --- Integers, following strconv.ParseInt/ParseUint with base 0 (the flag package's choice):
// 0x/0o/0b prefixes, a leading 0 for octal, '_' between digits.

bool underscoresWellPlaced(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  char saw = '^';  // '^' start, '0' digit or prefix, '_' underscore, '!' anything else
  size_t i = 0;
  bool hex = false;
  if (s.size() >= 2 && s[0] == '0' &&
      (strings::asciiLower(s[1]) == 'b' || strings::asciiLower(s[1]) == 'o' ||
       strings::asciiLower(s[1]) == 'x')) {
    i = 2;
    saw = '0';
    hex = strings::asciiLower(s[1]) == 'x';
  }
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (hex && std::isxdigit(static_cast<unsigned char>(c)))) {
      saw = '0';
      continue;
    }
    if (c == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

// Unsigned magnitude; `base` 0 detects the prefix. The error is kParseError or kRangeError.
std::expected<uint64_t, std::string_view> parseMagnitude(std::string_view s, int base) {
  if (s.empty()) return std::unexpected(kParseError);
  const std::string_view original = s;
  const bool detect = base == 0;
  if (detect) {
    base = 10;
    if (s[0] == '0') {
      if (s.size() >= 3 && strings::asciiLower(s[1]) == 'b') {
        base = 2;
        s.remove_prefix(2);
      } else if (s.size() >= 3 && strings::asciiLower(s[1]) == 'o') {
        base = 8;
        s.remove_prefix(2);
      } else if (s.size() >= 3 && strings::asciiLower(s[1]) == 'x') {
        base = 16;
        s.remove_prefix(2);
      } else {
        base = 8;
        s.remove_prefix(1);
      }
    }
  }
  uint64_t n = 0;
  bool underscores = false;
  for (char c : s) {
    int digit;
    if (c == '_' && detect) {
      underscores = true;
      continue;
    } else if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (strings::asciiLower(c) >= 'a' && strings::asciiLower(c) <= 'z') {
      digit = strings::asciiLower(c) - 'a' + 10;
    } else {
      return std::unexpected(kParseError);
    }
    if (digit >= base) return std::unexpected(kParseError);
    if (n > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(digit)) /
                static_cast<uint64_t>(base)) {
      return std::unexpected(kRangeError);
    }
    n = n * static_cast<uint64_t>(base) + static_cast<uint64_t>(digit);
  }
  if (underscores && !underscoresWellPlaced(original)) return std::unexpected(kParseError);
  return n;
}

std::expected<int64_t, std::string_view> parseSigned(std::string_view s, int base) {
  if (s.empty()) return std::unexpected(kParseError);
  bool negative = false;
  std::string_view digits = s;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    digits.remove_prefix(1);
  }
  auto magnitude = parseMagnitude(digits, base);
  if (!magnitude) return std::unexpected(magnitude.error());
  constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) {
    if (*magnitude > kLimit + 1) return std::unexpected(kRangeError);
    return static_cast<int64_t>(0 - *magnitude);
  }
  if (*magnitude > kLimit) return std::unexpected(kRangeError);
  return static_cast<int64_t>(*magnitude);
}

// strconv.ParseFloat(s, 64), close enough: optional sign, decimal or 0x hex, inf/nan.
std::expected<double, std::string_view> parseFloatText(std::string_view s) {
  if (s.empty()) return std::unexpected(kParseError);
  bool negative = false;
  std::string_view body = s;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body.empty() || body[0] == '+' || body[0] == '-') return std::unexpected(kParseError);
  auto format = std::chars_format::general;
  if (body.size() > 2 && body[0] == '0' && strings::asciiLower(body[1]) == 'x') {
    format = std::chars_format::hex;
    body.remove_prefix(2);
  }
  double value = 0;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), value, format);
  if (ec == std::errc::result_out_of_range) return std::unexpected(kRangeError);
  if (ec != std::errc() || end != body.data() + body.size()) return std::unexpected(kParseError);
  return negative ? -value : value;
}

// Go's %v for float64 in help output: shortest representation that round-trips.
std::string formatFloatText(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return std::string(buf, end);
}

std::vector<std::string> splitItems(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = strings::trim(text.substr(0, comma));
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::string joinList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

// strconv.ParseBool.
std::expected<bool, std::string_view> parseBoolText(std::string_view text) {
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  if (std::ranges::find(kTrue, text) != std::end(kTrue)) return true;
  if (std::ranges::find(kFalse, text) != std::end(kFalse)) return false;
  return std::unexpected(kParseError);
}

// --- The built-in kinds.

class StringValue final : public Value {
 public:
  explicit StringValue(std::string* target) : target_(target) {}
  Status set(std::string_view text) override {
    *target_ = std::string(text);
    return {};
  }
  std::string toString() const override { return *target_; }
  std::string_view typeName() const override { return "string"; }
  bool isZero() const override { return target_->empty(); }
  bool quoteDefault() const override { return true; }

 private:
  std::string* target_;
};

class BoolValue final : public Value {
 public:
  explicit BoolValue(bool* target) : target_(target) {}
  Status set(std::string_view text) override {
    auto v = parseBoolText(text);
    if (!v) return fail(invalid(std::string(v.error())));
    *target_ = *v;
    return {};
  }
  std::string toString() const override { return *target_ ? "true" : "false"; }
  std::string_view typeName() const override { return ""; }
  bool isBool() const override { return true; }
  bool isZero() const override { return !*target_; }

 private:
  bool* target_;
};

class IntValue final : public Value {
 public:
  explicit IntValue(int64_t* target) : target_(target) {}
  Status set(std::string_view text) override {
    auto v = parseSigned(text, 0);
    if (!v) return fail(invalid(std::string(v.error())));
    *target_ = *v;
    return {};
  }
  // Upstream scans the environment with %d: decimal only.
  Status setFromEnv(std::string_view text) override {
    auto v = parseSigned(text, 10);
    if (!v) return fail(invalid(std::string(v.error())));
    *target_ = *v;
    return {};
  }
  std::string toString() const override { return std::to_string(*target_); }
  std::string_view typeName() const override { return "int"; }
  bool isZero() const override { return *target_ == 0; }

 private:
  int64_t* target_;
};

class UintValue final : public Value {
 public:
  explicit UintValue(uint64_t* target) : target_(target) {}
  Status set(std::string_view text) override {
    auto v = parseMagnitude(text, 0);
    if (!v) return fail(invalid(std::string(v.error())));
    *target_ = *v;
    return {};
  }
  // Upstream parses the environment as base-10, 32-bit.
  Status setFromEnv(std::string_view text) override {
    auto v = parseMagnitude(text, 10);
    if (!v) return fail(invalid(std::string(v.error())));
    if (*v > std::numeric_limits<uint32_t>::max()) return fail(invalid(std::string(kRangeError)));
    *target_ = *v;
    return {};
  }
  std::string toString() const override { return std::to_string(*target_); }
  std::string_view typeName() const override { return "uint"; }
  bool isZero() const override { return *target_ == 0; }

 private:
  uint64_t* target_;
};

class FloatValue final : public Value {
 public:
  explicit FloatValue(double* target) : target_(target) {}
  Status set(std::string_view text) override {
    auto v = parseFloatText(text);
    if (!v) return fail(invalid(std::string(v.error())));
    *target_ = *v;
    return {};
  }
  std::string toString() const override { return formatFloatText(*target_); }
  std::string_view typeName() const override { return "float"; }
  bool isZero() const override { return *target_ == 0; }

 private:
  double* target_;
};

class DurationValue final : public Value {
 public:
  explicit DurationValue(std::chrono::nanoseconds* target) : target_(target) {}
  Status set(std::string_view text) override {
    auto v = parseDuration(text);
    // The flag package reports every duration problem as a plain parse error.
    if (!v) return fail(invalid(std::string(kParseError)));
    *target_ = *v;
    return {};
  }
  std::string toString() const override { return formatDuration(*target_); }
  std::string_view typeName() const override { return "duration"; }
  bool isZero() const override { return target_->count() == 0; }

 private:
  std::chrono::nanoseconds* target_;
};

class StringListValue final : public Value {
 public:
  explicit StringListValue(std::vector<std::string>* target) : target_(target) {}
  Status set(std::string_view text) override {
    for (auto& item : splitItems(text)) target_->push_back(std::move(item));
    return {};
  }
  Status setFromEnv(std::string_view text) override {
    *target_ = splitItems(text);
    return {};
  }
  void beginCommandLine() override { target_->clear(); }
  std::string toString() const override { return joinList(*target_); }
  std::string_view typeName() const override { return "value"; }
  bool isZero() const override { return target_->empty(); }
  bool quoteDefault() const override { return true; }

 private:
  std::vector<std::string>* target_;
};

class KeyValueValue final : public Value {
 public:
  explicit KeyValueValue(std::map<std::string, std::string>* target) : target_(target) {}
  Status set(std::string_view text) override {
    // Validate the whole text first so a bad item leaves the map untouched.
    std::vector<std::pair<std::string, std::string>> parsed;
    for (const auto& item : splitItems(text)) {
      size_t eq = item.find('=');
      if (eq == std::string::npos) {
        return fail(invalid("key-value pair \"" + item + "\" has no '='"));
      }
      parsed.emplace_back(std::string(strings::trim(std::string_view(item).substr(0, eq))),
                          std::string(strings::trim(std::string_view(item).substr(eq + 1))));
    }
    for (auto& [k, v] : parsed) (*target_)[k] = std::move(v);
    return {};
  }
  Status setFromEnv(std::string_view text) override {
    std::map<std::string, std::string> saved = std::move(*target_);
    target_->clear();
    if (auto s = set(text); !s) {
      *target_ = std::move(saved);
      return s;
    }
    return {};
  }
  void beginCommandLine() override { target_->clear(); }
  std::string toString() const override {
    std::string out;
    for (const auto& [k, v] : *target_) {
      if (!out.empty()) out += ',';
      out += k + "=" + v;
    }
    return out;
  }
  std::string_view typeName() const override { return "value"; }
  bool isZero() const override { return target_->empty(); }
  bool quoteDefault() const override { return true; }

 private:
  std::map<std::string, std::string>* target_;
};

// Go's UnquoteUsage: a `back-quoted` word in the usage names the argument in help.
std::pair<std::string, std::string> unquoteUsage(const Flag& flag) {
  const std::string& usage = flag.usage();
  size_t open = usage.find('`');
  if (open != std::string::npos) {
    size_t close = usage.find('`', open + 1);
    if (close != std::string::npos) {
      std::string name = usage.substr(open + 1, close - open - 1);
      std::string text = usage.substr(0, open) + name + usage.substr(close + 1);
      return {name, text};
    }
  }
  return {std::string(flag.value().typeName()), usage};
}

}  // namespace

// --- Value parsers for code that takes command-line syntax from elsewhere.

Result<bool> parseBool(std::string_view text) {
  auto v = parseBoolText(text);
  if (!v) return fail(invalid(std::string(v.error())));
  return *v;
}

Result<int64_t> parseInt(std::string_view text) {
  auto v = parseSigned(text, 0);
  if (!v) return fail(invalid(std::string(v.error())));
  return *v;
}

Result<uint64_t> parseUint(std::string_view text) {
  auto v = parseMagnitude(text, 0);
  if (!v) return fail(invalid(std::string(v.error())));
  return *v;
}

Result<double> parseFloat(std::string_view text) {
  auto v = parseFloatText(text);
  if (!v) return fail(invalid(std::string(v.error())));
  return *v;
}

std::vector<std::string> splitList(std::string_view text) {
  return splitItems(text);
}

std::string formatFloat(double value) {
  return formatFloatText(value);
}

// --- Durations, as Go's time package.

Result<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  const std::string quoted = goQuote(text);
  auto bad = [&](std::string_view why) {
    return fail(invalid(fmt::format("time: {} duration {}", why, quoted)));
  };
  struct Unit {
    std::string_view name;
    uint64_t ns;
  };
  static constexpr Unit kUnits[] = {
      {"ns", 1},         {"us", 1000},      {"\u00b5s", 1000},  // micro sign
      {"\u03bcs", 1000},                                        // Greek mu
      {"ms", 1000000},   {"s", 1000000000}, {"m", 60ULL * 1000000000}, {"h", 3600ULL * 1000000000},
  };
  constexpr uint64_t kMax = uint64_t{1} << 63;

  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return bad("invalid");

  uint64_t total = 0;
  auto isDigit = [](char c) { return c >= '0' && c <= '9'; };
  while (!s.empty()) {
    if (!(s[0] == '.' || isDigit(s[0]))) return bad("invalid");
    // Integer part.
    uint64_t whole = 0;
    size_t i = 0;
    for (; i < s.size() && isDigit(s[i]); ++i) {
      if (whole > (kMax - 1) / 10) return bad("invalid");  // overflow
      whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
      if (whole > kMax) return bad("invalid");
    }
    const bool haveWhole = i > 0;
    s.remove_prefix(i);
    // Fraction: digits beyond what fits are consumed but ignored, as Go does.
    uint64_t fraction = 0;
    double scale = 1;
    bool haveFraction = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflowed = false;
      for (; j < s.size() && isDigit(s[j]); ++j) {
        if (overflowed) continue;
        if (fraction > (kMax - 1) / 10) {
          overflowed = true;
          continue;
        }
        const uint64_t next = fraction * 10 + static_cast<uint64_t>(s[j] - '0');
        if (next > kMax) {
          overflowed = true;
          continue;
        }
        fraction = next;
        scale *= 10;
      }
      haveFraction = j > 0;
      s.remove_prefix(j);
    }
    if (!haveWhole && !haveFraction) return bad("invalid");
    // Unit.
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !isDigit(s[u])) ++u;
    if (u == 0) return bad("missing unit in");
    std::string_view unitName = s.substr(0, u);
    s.remove_prefix(u);
    const Unit* unit = nullptr;
    for (const auto& candidate : kUnits) {
      if (candidate.name == unitName) unit = &candidate;
    }
    if (unit == nullptr) {
      return fail(
          invalid(fmt::format("time: unknown unit {} in duration {}", goQuote(unitName), quoted)));
    }
    if (whole > kMax / unit->ns) return bad("invalid");
    uint64_t value = whole * unit->ns;
    if (fraction > 0) {
      value += static_cast<uint64_t>(static_cast<double>(fraction) *
                                     (static_cast<double>(unit->ns) / scale));
      if (value > kMax) return bad("invalid");
    }
    total += value;
    if (total > kMax) return bad("invalid");
  }
  if (negative) return std::chrono::nanoseconds(static_cast<int64_t>(0 - total));
  if (total > kMax - 1) return bad("invalid");
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string formatDuration(std::chrono::nanoseconds d) {
  const int64_t n = d.count();
  const bool negative = n < 0;
  uint64_t u = negative ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);

  // Writes v / 10^precision with trailing fractional zeros (and a bare '.') removed.
  auto withFraction = [](uint64_t v, int precision) {
    std::string digits = std::to_string(v);
    if (static_cast<int>(digits.size()) <= precision) {
      digits.insert(0, static_cast<size_t>(precision + 1) - digits.size(), '0');
    }
    std::string whole = digits.substr(0, digits.size() - static_cast<size_t>(precision));
    std::string frac = digits.substr(digits.size() - static_cast<size_t>(precision));
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    return frac.empty() ? whole : whole + "." + frac;
  };

  std::string out;
  if (u < 1000000000) {
    if (u == 0) return "0s";
    if (u < 1000) {
      out = std::to_string(u) + "ns";
    } else if (u < 1000000) {
      out = withFraction(u, 3) + "\u00b5s";
    } else {
      out = withFraction(u, 6) + "ms";
    }
  } else {
    const uint64_t seconds = u / 1000000000;
    const uint64_t subsecond = u % 1000000000;
    out = withFraction((seconds % 60) * 1000000000 + subsecond, 9) + "s";
    const uint64_t minutes = seconds / 60;
    if (minutes > 0) {
      out = std::to_string(minutes % 60) + "m" + out;
      const uint64_t hours = minutes / 60;
      if (hours > 0) out = std::to_string(hours) + "h" + out;
    }
  }
  return negative ? "-" + out : out;
}

// --- Environment.

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup mapEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

// --- Flag.

Flag::Flag(std::string name, std::string env, std::string usage, std::unique_ptr<Value> value)
    : name_(std::move(name)),
      env_(std::move(env)),
      usage_(std::move(usage)),
      value_(std::move(value)) {
  defaultText_ = value_->toString();
  defaultIsZero_ = value_->isZero();
}

bool Flag::applyEnv(const std::string& name) {
  std::optional<std::string> text = (*lookupEnv_)(name);
  if (!text || text->empty()) return false;
  if (auto s = value_->setFromEnv(*text); !s) {
    // Reported by FlagSet::validate(), once secrets are marked (they are marked only after
    // registration, which is when this runs).
    envError_ = EnvError{name, *text, s.error().message};
    return true;
  }
  source_ = Source::kEnv;
  return true;
}

Flag& Flag::alsoEnv(std::string name) {
  envAliases_.push_back(std::move(name));
  // Only when no earlier variable was set (a bad value counts as set).
  if (source_ == Source::kDefault && !envError_) applyEnv(envAliases_.back());
  return *this;
}

std::string_view Flag::source() const {
  switch (source_) {
    case Source::kDefault:
      return "default";
    case Source::kEnv:
      return "env";
    case Source::kCommandLine:
      return "flag";
  }
  return "default";
}

// --- FlagSet.

FlagSet::FlagSet(std::string name, EnvLookup env) : name_(std::move(name)), env_(std::move(env)) {}

Flag& FlagSet::add(std::string name, std::string env, std::string usage,
                   std::unique_ptr<Value> value) {
  if (name.empty() || name[0] == '-' || name.find('=') != std::string::npos) {
    throw std::logic_error("bad flag name \"" + name + "\"");
  }
  if (flags_.contains(name)) {
    throw std::logic_error(name_ + " flag redefined: " + name);
  }
  auto flag = std::make_unique<Flag>(name, std::move(env), std::move(usage), std::move(value));
  flag->lookupEnv_ = &env_;
  if (!flag->env().empty()) flag->applyEnv(flag->env());
  Flag& ref = *flag;
  flags_.emplace(std::move(name), std::move(flag));
  return ref;
}

Flag& FlagSet::stringVar(std::string* target, std::string name, std::string defaultValue,
                         std::string env, std::string usage) {
  *target = std::move(defaultValue);
  return add(std::move(name), std::move(env), std::move(usage),
             std::make_unique<StringValue>(target));
}

Flag& FlagSet::boolVar(bool* target, std::string name, bool defaultValue, std::string env,
                       std::string usage) {
  *target = defaultValue;
  return add(std::move(name), std::move(env), std::move(usage),
             std::make_unique<BoolValue>(target));
}

Flag& FlagSet::intVar(int64_t* target, std::string name, int64_t defaultValue, std::string env,
                      std::string usage) {
  *target = defaultValue;
  return add(std::move(name), std::move(env), std::move(usage), std::make_unique<IntValue>(target));
}

Flag& FlagSet::uintVar(uint64_t* target, std::string name, uint64_t defaultValue, std::string env,
                       std::string usage) {
  *target = defaultValue;
  return add(std::move(name), std::move(env), std::move(usage),
             std::make_unique<UintValue>(target));
}

Flag& FlagSet::floatVar(double* target, std::string name, double defaultValue, std::string env,
                        std::string usage) {
  *target = defaultValue;
  return add(std::move(name), std::move(env), std::move(usage),
             std::make_unique<FloatValue>(target));
}

Flag& FlagSet::durationVar(std::chrono::nanoseconds* target, std::string name,
                           std::chrono::nanoseconds defaultValue, std::string env,
                           std::string usage) {
  *target = defaultValue;
  return add(std::move(name), std::move(env), std::move(usage),
             std::make_unique<DurationValue>(target));
}

Flag& FlagSet::stringListVar(std::vector<std::string>* target, std::string name,
                             std::vector<std::string> defaultValue, std::string env,
                             std::string usage) {
  *target = std::move(defaultValue);
  return add(std::move(name), std::move(env), std::move(usage),
             std::make_unique<StringListValue>(target));
}

Flag& FlagSet::keyValueVar(std::map<std::string, std::string>* target, std::string name,
                           std::map<std::string, std::string> defaultValue, std::string env,
                           std::string usage) {
  *target = std::move(defaultValue);
  return add(std::move(name), std::move(env), std::move(usage),
             std::make_unique<KeyValueValue>(target));
}

Flag& FlagSet::var(std::unique_ptr<Value> value, std::string name, std::string env,
                   std::string usage) {
  return add(std::move(name), std::move(env), std::move(usage), std::move(value));
}

Status FlagSet::setFromCommandLine(Flag& flag, std::string_view text, bool boolSyntax) {
  if (!flag.setOnCommandLine()) flag.value().beginCommandLine();
  if (auto s = flag.value().set(text); !s) {
    if (boolSyntax) {
      return fail(invalid(fmt::format("invalid boolean value {} for -{}: {}", goQuote(text),
                                      flag.name(), s.error().message)));
    }
    return fail(invalid(fmt::format("invalid value {} for flag -{}: {}", goQuote(text), flag.name(),
                                    s.error().message)));
  }
  flag.source_ = Flag::Source::kCommandLine;
  return {};
}

Result<ParseResult> FlagSet::parse(const std::vector<std::string>& args) {
  ParseResult result;
  size_t i = 0;
  while (i < args.size()) {
    const std::string& arg = args[i];
    // "-" alone and anything not starting with '-' end the flags.
    if (arg.size() < 2 || arg[0] != '-') break;
    size_t dashes = 1;
    if (arg[1] == '-') {
      dashes = 2;
      if (arg.size() == 2) {  // "--" ends the flags and is consumed
        ++i;
        break;
      }
    }
    std::string_view name = std::string_view(arg).substr(dashes);
    if (name.empty() || name[0] == '-' || name[0] == '=') {
      return fail(invalid("bad flag syntax: " + arg));
    }
    ++i;
    std::optional<std::string_view> inlineValue;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      inlineValue = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      if (name == "help" || name == "h") {
        result.helpRequested = true;
        return result;
      }
      if (name == "version") {
        result.versionRequested = true;
        return result;
      }
      return fail(invalid(fmt::format("flag provided but not defined: -{}", name)));
    }
    Flag& flag = *it->second;
    if (flag.value().isBool()) {
      // Booleans never take the next argument: "-f false" is "-f" followed by "false".
      auto s = setFromCommandLine(flag, inlineValue.value_or("true"), /*boolSyntax=*/true);
      if (!s) return fail(std::move(s.error()));
      continue;
    }
    if (!inlineValue) {
      if (i >= args.size()) return fail(invalid(fmt::format("flag needs an argument: -{}", name)));
      // As Go, the next argument is the value even if it starts with '-'.
      inlineValue = args[i];
      ++i;
    }
    if (auto s = setFromCommandLine(flag, *inlineValue, /*boolSyntax=*/false); !s) {
      return fail(std::move(s.error()));
    }
  }
  result.remaining.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  // A binary that defines -version itself (upstream's forwarder and webhook) answers it too,
  // whatever else is wrong with the configuration.
  if (auto it = flags_.find("version"); it != flags_.end() && it->second->value().isBool() &&
                                        it->second->setOnCommandLine() &&
                                        it->second->value().toString() == "true") {
    result.versionRequested = true;
    return result;
  }
  if (auto s = validate(); !s) return fail(std::move(s.error()));
  return result;
}

Status FlagSet::validate() const {
  std::vector<std::string> problems;
  for (const Flag* flag : flags()) {
    if (const auto& e = flag->envError_) {
      problems.push_back(fmt::format(
          "invalid value {} for environment variable {} (flag -{}): {}{}",
          flag->isSecret() ? "(secret)" : goQuote(e->text), e->variable, flag->name(), e->reason,
          flag->value().isBool() ? " (a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, "
                                   "false or False)"
                                 : ""));
    }
    if (flag->value().toString().find(kPlaceholder) != std::string::npos) {
      std::string where = "-" + flag->name();
      if (flag->source_ == Flag::Source::kEnv || flag->source_ == Flag::Source::kDefault) {
        std::string vars = flag->env();
        for (const auto& alias : flag->envAliases()) vars += (vars.empty() ? "" : " or ") + alias;
        if (!vars.empty()) where += " (env " + vars + ")";
      }
      problems.push_back(fmt::format("{} still holds the placeholder {}: set it to a real value",
                                     where, kPlaceholder));
    }
  }
  if (problems.empty()) return {};
  std::string message = problems[0];
  for (size_t i = 1; i < problems.size(); ++i) message += "; " + problems[i];
  return fail(invalid(std::move(message)));
}

const Flag* FlagSet::lookup(std::string_view name) const {
  auto it = flags_.find(name);
  return it == flags_.end() ? nullptr : it->second.get();
}

std::vector<const Flag*> FlagSet::flags() const {
  std::vector<const Flag*> out;
  out.reserve(flags_.size());
  for (const auto& [name, flag] : flags_) out.push_back(flag.get());  // std::map: already sorted
  return out;
}

std::string FlagSet::helpText() const {
  std::string out;
  for (const Flag* flag : flags()) {
    std::string line = "  -" + flag->name();
    auto [argName, usage] = unquoteUsage(*flag);
    if (!argName.empty()) line += " " + argName;
    // Go puts the usage of a one-letter boolean on the same line.
    line += line.size() <= 4 ? "\t" : "\n    \t";
    std::string text = usage;
    if (!flag->env().empty()) text += " (env " + flag->env() + ")";
    if (!flag->defaultIsZero_) {
      text += " (default ";
      text += flag->value().quoteDefault() ? goQuote(flag->defaultText()) : flag->defaultText();
      text += ")";
    }
    for (char c : text) {
      line += c;
      if (c == '\n') line += "    \t";
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::vector<std::string> FlagSet::dump() const {
  std::vector<std::string> out;
  for (const Flag* flag : flags()) {
    std::string value = flag->value().toString();
    if (flag->isSecret() && !value.empty()) value = "**********";
    out.push_back(flag->name() + "=" + value);
  }
  return out;
}

}  // namespace pp::flags
