// What the in-process cloud fakes (fake_aws, fake_azure, fake_gcp, and the next providers')
// share: the log of the requests they received, the "problems" they found in them (malformed or
// wrongly signed requests; a test expects none), and scripted failures (the next N matching
// requests answer with an error). Thread-safe: a fake's HTTP server runs several threads.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pp::providers::testing {

// Requests as a fake records them (its own Call type), and the problems it found.
template <typename Call>
class RequestLog {
 public:
  void record(Call call) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
  }
  // The recorded calls for which keep(call) is true, in arrival order.
  template <typename Keep>
  std::vector<Call> select(Keep keep) const {
    std::lock_guard lock(mu_);
    std::vector<Call> out;
    for (const auto& c : calls_)
      if (keep(c)) out.push_back(c);
    return out;
  }
  std::vector<Call> all() const {
    return select([](const Call&) { return true; });
  }

  void problem(std::string text) {
    std::lock_guard lock(mu_);
    problems_.push_back(std::move(text));
  }
  std::vector<std::string> problems() const {
    std::lock_guard lock(mu_);
    return problems_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Call> calls_;
  std::vector<std::string> problems_;
};

// An error answer: HTTP status, the cloud's error code (or reason) and message, and an optional
// Retry-After value (the fake decides how to send it).
struct ScriptedFailure {
  int status = 500;
  std::string code;
  std::string message;
  std::string retryAfter;
};

// Failures scripted by tests, each for the next `times` requests whose key (the fake's choice:
// an action name, "METHOD path", ...) matches its pattern; the earliest scripted entry wins.
class FailureScript {
 public:
  enum class Match { kExact, kSubstring };
  explicit FailureScript(Match match = Match::kExact) : match_(match) {}

  void add(std::string pattern, ScriptedFailure failure, int times = 1) {
    std::lock_guard lock(mu_);
    entries_.push_back({std::move(pattern), std::move(failure), times});
  }
  // The failure the request with this key must answer, if one is scripted (and uses it up).
  std::optional<ScriptedFailure> take(const std::string& key) {
    std::lock_guard lock(mu_);
    for (auto& e : entries_) {
      bool hit = match_ == Match::kExact ? key == e.pattern : key.find(e.pattern) != key.npos;
      if (e.times > 0 && hit) {
        --e.times;
        return e.failure;
      }
    }
    return std::nullopt;
  }

 private:
  struct Entry {
    std::string pattern;
    ScriptedFailure failure;
    int times;
  };
  Match match_;
  std::mutex mu_;
  std::vector<Entry> entries_;
};

}  // namespace pp::providers::testing
