// A flag set that speaks upstream's command-line dialect (Go's `flag` package) and reads
// environment variables the way upstream's FlagRegistrar does (upstream-core.md §3,
// upstream-providers.md §1.4), so that deployment manifests written for the Go binaries work
// unchanged.
//
// Precedence: built-in default < environment variable (only when non-empty) < command line.
// Registration binds a flag to a variable the caller owns; the variable receives the default and
// then the environment value at once, so code that only registers (peerpod-ctrl builds providers
// from the environment alone) sees a complete configuration without parsing anything; such code
// calls validate() to learn about bad values.
//
// Strict, unlike upstream (which logs or silently drops a value it cannot parse): an
// environment value that does not parse, or any value that still holds a deployment
// placeholder (REPLACE_ME), makes parse()/validate() fail naming the flag and the variable, so
// that bad configuration stops the daemon at start instead of at the first pod. Booleans take
// strconv.ParseBool's spellings in both places (1 t T TRUE true True, 0 f F FALSE false False).
//
// Command-line syntax, as Go: `-f v`, `-f=v`, `--f v`, `--f=v`; booleans `-f` or `-f=false`
// (never `-f false`); parsing stops at the first non-flag argument or after `--`; `-h`/`-help`
// (when not defined) request help.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pp::flags {

// Go's time.ParseDuration: "300ms", "1.5h", "2h45m", "-1m"; units ns us µs μs ms s m h; a bare
// "0" is allowed. Errors say what is wrong with the text.
Result<std::chrono::nanoseconds> parseDuration(std::string_view text);
// Go's Duration.String: "5m0s", "1h30m0s", "300ms", "1.5µs", "0s".
std::string formatDuration(std::chrono::nanoseconds d);

// The command-line value parsers, for code that receives Go-syntax values by other routes
// (plugin flag defaults). Errors are INVALID_ARGUMENT "parse error" / "value out of range".
Result<bool> parseBool(std::string_view text);      // strconv.ParseBool
Result<int64_t> parseInt(std::string_view text);    // strconv.ParseInt(text, 0, 64)
Result<uint64_t> parseUint(std::string_view text);  // strconv.ParseUint(text, 0, 64)
Result<double> parseFloat(std::string_view text);   // strconv.ParseFloat(text, 64)
// Comma-separated items, spaces around items trimmed, empty items dropped.
std::vector<std::string> splitList(std::string_view text);
// Shortest text that parses back to the same double ("2", "0.5", "+Inf").
std::string formatFloat(double value);

// The parser behind one flag. The built-in kinds below cover upstream's flags; a provider with
// an unusual type (byom's IP ranges) implements its own and registers it with FlagSet::var().
class Value {
 public:
  virtual ~Value() = default;
  // Parses a command-line value. The error message is the reason alone ("parse error"); the
  // flag set adds the flag name and the offending text.
  virtual Status set(std::string_view text) = 0;
  // Parses an environment value. Most kinds use set(); integers follow upstream's environment
  // rules (decimal only; unsigned values fit 32 bits).
  virtual Status setFromEnv(std::string_view text) { return set(text); }
  // The current value as help and dumps print it.
  virtual std::string toString() const = 0;
  // The word after the flag name in help ("string", "int", "duration"); empty for booleans.
  virtual std::string_view typeName() const = 0;
  // True for flags that take no argument on the command line (`-f` means `-f=true`).
  virtual bool isBool() const { return false; }
  // Whether the current value is the type's zero value (help omits "(default ...)" then).
  virtual bool isZero() const = 0;
  // Help quotes string-like defaults, as Go does for string flags.
  virtual bool quoteDefault() const { return false; }
  // Called once, before the first command-line occurrence of the flag. List kinds use it so
  // that the command line replaces the environment's list rather than extending it, while
  // repeated command-line occurrences still accumulate.
  virtual void beginCommandLine() {}
};

// Reads an environment variable; nullopt when unset. Tests pass a map instead of the process
// environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup processEnv();
EnvLookup mapEnv(std::map<std::string, std::string> values);

// One registered flag. add*() return it so that callers can mark it.
class Flag {
 public:
  Flag(std::string name, std::string env, std::string usage, std::unique_ptr<Value> value);

  const std::string& name() const { return name_; }
  const std::string& env() const { return env_; }
  const std::string& usage() const { return usage_; }
  const std::string& defaultText() const { return defaultText_; }
  Value& value() { return *value_; }
  const Value& value() const { return *value_; }
  // Where the current value came from, for diagnostics ("default", "env", "flag").
  std::string_view source() const;
  bool setOnCommandLine() const { return source_ == Source::kCommandLine; }

  // Secret flags are masked in dump(); the value itself is untouched.
  Flag& secret() {
    secret_ = true;
    return *this;
  }
  bool isSecret() const { return secret_; }
  // Metadata only, as upstream: documents that a deployment must provide the value.
  Flag& required() {
    required_ = true;
    return *this;
  }
  bool isRequired() const { return required_; }
  // Another environment variable for this flag, read only when env() is unset or empty: keeps a
  // variable working after upstream renamed it. Applied at once, like env().
  Flag& alsoEnv(std::string name);
  const std::vector<std::string>& envAliases() const { return envAliases_; }

 private:
  friend class FlagSet;
  enum class Source { kDefault, kEnv, kCommandLine };

  // Sets the value from variable `name` if it is set and non-empty. A value that does not parse
  // leaves the default and is kept in envError_ for FlagSet::validate(). True when the variable
  // was set (even to a bad value), so that aliases are not consulted.
  bool applyEnv(const std::string& name);

  struct EnvError {
    std::string variable;
    std::string text;
    std::string reason;
  };

  std::string name_;
  std::string env_;
  std::string usage_;
  std::unique_ptr<Value> value_;
  std::string defaultText_;  // the built-in default, captured before the environment applies
  bool defaultIsZero_ = true;
  Source source_ = Source::kDefault;
  bool secret_ = false;
  bool required_ = false;
  std::vector<std::string> envAliases_;
  std::optional<EnvError> envError_;
  const EnvLookup* lookupEnv_ = nullptr;  // the owning FlagSet's
};

// The text that marks a value a deployment must replace (upstream's overlays ship it).
inline constexpr std::string_view kPlaceholder = "REPLACE_ME";

struct ParseResult {
  // -h, -help or --help was given (and not defined as a flag): print help, exit 0.
  bool helpRequested = false;
  // -version or --version was given (not defined as a flag, or defined as a boolean and set
  // true): print the version, exit 0. Configuration is not validated then.
  bool versionRequested = false;
  // Arguments after the flags: from the first non-flag argument on, or after "--".
  std::vector<std::string> remaining;
};

class FlagSet {
 public:
  explicit FlagSet(std::string name, EnvLookup env = processEnv());
  FlagSet(const FlagSet&) = delete;
  FlagSet& operator=(const FlagSet&) = delete;

  const std::string& name() const { return name_; }

  // Each *Var registers flag `name` (without dashes) bound to *target, stores the default in
  // *target, then the value of environment variable `env` when that is set and non-empty (an
  // empty `env` means the flag has no variable). An environment value that does not parse
  // leaves the default and fails validate(). Registering a name twice is a programming error
  // (std::logic_error).
  Flag& stringVar(std::string* target, std::string name, std::string defaultValue, std::string env,
                  std::string usage);
  Flag& boolVar(bool* target, std::string name, bool defaultValue, std::string env,
                std::string usage);
  Flag& intVar(int64_t* target, std::string name, int64_t defaultValue, std::string env,
               std::string usage);
  Flag& uintVar(uint64_t* target, std::string name, uint64_t defaultValue, std::string env,
                std::string usage);
  Flag& floatVar(double* target, std::string name, double defaultValue, std::string env,
                 std::string usage);
  Flag& durationVar(std::chrono::nanoseconds* target, std::string name,
                    std::chrono::nanoseconds defaultValue, std::string env, std::string usage);
  // Comma-separated items, spaces around items trimmed, empty items dropped; repeating the flag
  // appends (upstream's -pod-subnet-cidrs, -instance-types).
  Flag& stringListVar(std::vector<std::string>* target, std::string name,
                      std::vector<std::string> defaultValue, std::string env, std::string usage);
  // Upstream's KeyValueFlag (tags): "k1=v1, k2=v2"; each item split on its first '=', spaces
  // trimmed; an item without '=' is an error. Repeating the flag adds keys.
  Flag& keyValueVar(std::map<std::string, std::string>* target, std::string name,
                    std::map<std::string, std::string> defaultValue, std::string env,
                    std::string usage);
  // A custom kind; its current value is the default.
  Flag& var(std::unique_ptr<Value> value, std::string name, std::string env, std::string usage);

  // Parses command-line arguments (without the program and provider names), then validate()s,
  // unless help or the version was requested.
  Result<ParseResult> parse(const std::vector<std::string>& args);

  // Fails (INVALID_ARGUMENT) when an environment variable held a value its flag cannot take, or
  // when any flag's value is or contains kPlaceholder; the message names every such flag and
  // variable (a secret's value is not shown).
  Status validate() const;

  // nullptr when not registered.
  const Flag* lookup(std::string_view name) const;
  // Registered flags sorted by name.
  std::vector<const Flag*> flags() const;

  // Go's PrintDefaults with the environment variable shown:
  //   "  -vxlan-port uint\n    \tVXLAN UDP port number (env VXLAN_PORT) (default 4789)\n"
  std::string helpText() const;
  // "name=value" per flag, sorted, secrets shown as "**********"; for start-up logs.
  std::vector<std::string> dump() const;

 private:
  Flag& add(std::string name, std::string env, std::string usage, std::unique_ptr<Value> value);
  Status setFromCommandLine(Flag& flag, std::string_view text, bool boolSyntax);

  std::string name_;
  EnvLookup env_;
  std::map<std::string, std::unique_ptr<Flag>, std::less<>> flags_;
};

}  // namespace pp::flags
