#include "base/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace pp::metrics {
namespace {

// Label values: backslash, double quote and newline escaped.
std::string escapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// HELP text: backslash and newline escaped.
std::string escapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string labelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extraName = "", const std::string& extraValue = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!out.empty()) out += ',';
    out += names[i] + "=\"" + escapeLabel(i < values.size() ? values[i] : "") + "\"";
  }
  if (!extraName.empty()) {
    if (!out.empty()) out += ',';
    out += extraName + "=\"" + escapeLabel(extraValue) + "\"";
  }
  return out.empty() ? "" : "{" + out + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("histogram bounds must increase");
}

void Histogram::observe(double value) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard lock(mu_);
  ++counts_[i];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::lock_guard lock(mu_);
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_;
  return s;
}

std::vector<double> durationBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

Registry::CallbackHandle& Registry::CallbackHandle::operator=(CallbackHandle&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    name_ = std::move(other.name_);
    token_ = other.token_;
  }
  return *this;
}

void Registry::CallbackHandle::reset() {
  if (registry_) registry_->removeCallback(name_, token_);
  registry_ = nullptr;
}

Registry::Entry& Registry::entry(const std::string& name, const std::string& help,
                                 const char* type) {
  auto [it, inserted] = entries_.try_emplace(name);
  if (inserted) {
    it->second.help = help;
    it->second.type = type;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + name + " registered as " + it->second.type + " and " + type);
  }
  return it->second;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labelNames) {
  std::lock_guard lock(mu_);
  auto& e = entry(name, help, "counter");
  if (!e.counters)
    e.counters = std::make_shared<Family<Counter>>(std::move(labelNames),
                                                   [] { return std::make_unique<Counter>(); });
  return *e.counters;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labelNames) {
  std::lock_guard lock(mu_);
  auto& e = entry(name, help, "gauge");
  if (!e.gauges)
    e.gauges = std::make_shared<Family<Gauge>>(std::move(labelNames),
                                               [] { return std::make_unique<Gauge>(); });
  return *e.gauges;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<double> bounds,
                                       std::vector<std::string> labelNames) {
  std::lock_guard lock(mu_);
  auto& e = entry(name, help, "histogram");
  if (!e.histograms) {
    e.histograms = std::make_shared<Family<Histogram>>(
        std::move(labelNames), [bounds] { return std::make_unique<Histogram>(bounds); });
  }
  return *e.histograms;
}

Registry::CallbackHandle Registry::gaugeCallback(const std::string& name, const std::string& help,
                                                 std::vector<std::string> labelNames,
                                                 std::function<GaugeSamples()> collect) {
  std::lock_guard lock(mu_);
  auto& e = entry(name, help, "gauge");
  e.callbackLabels = std::move(labelNames);
  e.callback = std::move(collect);
  e.callbackToken = nextToken_++;
  return CallbackHandle(this, name, e.callbackToken);
}

void Registry::removeCallback(const std::string& name, uint64_t token) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.callbackToken != token) return;
  it->second.callback = nullptr;
  it->second.callbackToken = 0;
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, e] : entries_) {
    std::string samples;
    if (e.counters) {
      e.counters->forEach([&](const std::vector<std::string>& values, const Counter& c) {
        samples +=
            name + labelSet(e.counters->labelNames(), values) + " " + number(c.value()) + "\n";
      });
    }
    if (e.gauges) {
      e.gauges->forEach([&](const std::vector<std::string>& values, const Gauge& g) {
        samples += name + labelSet(e.gauges->labelNames(), values) + " " + number(g.value()) + "\n";
      });
    }
    if (e.callback) {
      for (const auto& [values, v] : e.callback())
        samples += name + labelSet(e.callbackLabels, values) + " " + number(v) + "\n";
    }
    if (e.histograms) {
      const auto& names = e.histograms->labelNames();
      e.histograms->forEach([&](const std::vector<std::string>& values, const Histogram& h) {
        auto snap = h.snapshot();
        for (size_t i = 0; i < snap.cumulative.size(); ++i) {
          std::string le = i < h.bounds().size() ? number(h.bounds()[i]) : "+Inf";
          samples += name + "_bucket" + labelSet(names, values, "le", le) + " " +
                     number(static_cast<double>(snap.cumulative[i])) + "\n";
        }
        samples += name + "_sum" + labelSet(names, values) + " " + number(snap.sum) + "\n";
        samples += name + "_count" + labelSet(names, values) + " " +
                   number(static_cast<double>(snap.count)) + "\n";
      });
    }
    out += "# HELP " + name + " " + escapeHelp(e.help) + "\n";
    out += "# TYPE " + name + " " + e.type + "\n";
    out += samples;
  }
  return out;
}

Registry& global() {
  static Registry* registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

}  // namespace pp::metrics
