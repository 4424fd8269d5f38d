// Prometheus metrics: counters, gauges and histograms, optionally labelled, kept in a registry
// that renders the text exposition format (version 0.0.4) for a /metrics endpoint. Lock-free on
// the hot path (a counter or gauge update is one atomic add; a histogram takes a short lock), so
// instrumented code does not slow down. Names follow Prometheus conventions: a `peerpods_`
// namespace, `_total` for counters, base units (`_seconds`).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pp::metrics {

inline constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class Counter {
 public:
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, increasing (+Inf is implicit).
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
};

// Latency buckets from 5 ms to 10 minutes (pod VM boots take seconds to minutes).
std::vector<double> durationBuckets();

// One metric name with its label names; each distinct list of label values is one series,
// made on first use and kept for the life of the family.
template <typename M>
class Family {
 public:
  Family(std::vector<std::string> labelNames, std::function<std::unique_ptr<M>()> make)
      : labelNames_(std::move(labelNames)), make_(std::move(make)) {}
  // The series for these label values (as many as label names; missing ones are "").
  M& with(std::vector<std::string> values = {}) {
    values.resize(labelNames_.size());
    std::lock_guard lock(mu_);
    auto& slot = series_[values];
    if (!slot) slot = make_();
    return *slot;
  }
  const std::vector<std::string>& labelNames() const { return labelNames_; }
  // Every series (label values, metric), in label order.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [values, m] : series_) fn(values, *m);
  }

 private:
  const std::vector<std::string> labelNames_;
  const std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_;
};

// Samples of a gauge computed when scraped: (label values, value).
using GaugeSamples = std::vector<std::pair<std::vector<std::string>, double>>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a name again returns the family registered first (help and labels of the
  // first registration stay).
  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> labelNames = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> labelNames = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds,
                               std::vector<std::string> labelNames = {});

  // A gauge whose samples `collect` computes at scrape time (it must not block). Until the
  // returned handle is destroyed; a later registration of the same name replaces it.
  class CallbackHandle {
   public:
    CallbackHandle() = default;
    CallbackHandle(Registry* registry, std::string name, uint64_t token)
        : registry_(registry), name_(std::move(name)), token_(token) {}
    CallbackHandle(CallbackHandle&& other) noexcept { *this = std::move(other); }
    CallbackHandle& operator=(CallbackHandle&& other) noexcept;
    ~CallbackHandle() { reset(); }
    void reset();

   private:
    Registry* registry_ = nullptr;
    std::string name_;
    uint64_t token_ = 0;
  };
  [[nodiscard]] CallbackHandle gaugeCallback(const std::string& name, const std::string& help,
                                             std::vector<std::string> labelNames,
                                             std::function<GaugeSamples()> collect);

  // The text exposition format, metrics sorted by name.
  std::string render() const;

 private:
  struct Entry {
    std::string help;
    std::string type;  // counter, gauge, histogram
    std::shared_ptr<Family<Counter>> counters;
    std::shared_ptr<Family<Gauge>> gauges;
    std::shared_ptr<Family<Histogram>> histograms;
    std::vector<std::string> callbackLabels;
    std::function<GaugeSamples()> callback;
    uint64_t callbackToken = 0;
  };
  Entry& entry(const std::string& name, const std::string& help, const char* type);
  void removeCallback(const std::string& name, uint64_t token);

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  uint64_t nextToken_ = 1;
};

// The process's registry: what its /metrics endpoint serves.
Registry& global();

}  // namespace pp::metrics
