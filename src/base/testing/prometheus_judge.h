// Tests' independent judge of /metrics output: the Prometheus project's own text-format parser
// (python3-prometheus-client, tests/tools/prometheus_text.py) reads the text, and what it
// understood comes back as JSON. Link pp_prometheus_judge (it defines the script's path).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace pp::testing {

struct ParsedMetrics {
  nlohmann::json families;  // [{"name", "type", "help", "samples": [{"name","labels","value"}]}]
  std::string error;        // the parser's complaint; families is null then

  // The value of the sample with this name whose labels include `labels`; nullopt if none.
  std::optional<double> value(const std::string& sample, const nlohmann::json& labels = {}) const {
    if (!families.is_array()) return std::nullopt;
    for (const auto& f : families) {
      for (const auto& s : f["samples"]) {
        if (s["name"] != sample) continue;
        bool match = true;
        for (const auto& [k, v] : labels.items()) {
          if (!s["labels"].contains(k) || s["labels"][k] != v) match = false;
        }
        if (match && s["value"].is_number()) return s["value"].get<double>();
      }
    }
    return std::nullopt;
  }
  // The family's type as the parser saw it ("counter", "gauge", "histogram"), "" if absent.
  // A counter family is named without its _total suffix.
  std::string type(const std::string& family) const {
    if (!families.is_array()) return "";
    for (const auto& f : families)
      if (f["name"] == family) return f["type"].get<std::string>();
    return "";
  }
};

inline ParsedMetrics parsePrometheusText(const std::string& text) {
  ParsedMetrics out;
  auto in = std::filesystem::temp_directory_path() /
            ("pp-metrics-" + std::to_string(::getpid()) + "-" +
             std::to_string(reinterpret_cast<uintptr_t>(&text)) + ".txt");
  {
    std::ofstream f(in);
    f << text;
  }
  std::string cmd = std::string(PP_PROMETHEUS_PARSER) + " < " + in.string() + " 2>&1";
  std::string result;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) result.append(buf, n);
    int rc = ::pclose(p);
    std::filesystem::remove(in);
    if (rc != 0) {
      out.error = result.empty() ? "the parser failed to run" : result;
      return out;
    }
  } else {
    out.error = "cannot run " + std::string(PP_PROMETHEUS_PARSER);
    return out;
  }
  try {
    out.families = nlohmann::json::parse(result);
  } catch (const nlohmann::json::exception& e) {
    out.error = std::string("parser output is not JSON: ") + e.what() + ": " + result;
  }
  return out;
}

}  // namespace pp::testing
