// Lenient reads of nlohmann::json documents from peers (cloud APIs, the Kubernetes API,
// admission requests): a member that is absent or of the wrong type reads as "not there"
// instead of throwing. Where a wrong type must be an error, check with these and say so.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace pp::jsonf {

// The member `key` of `j`; nullptr when `j` is not an object or has no such member.
inline const nlohmann::json* member(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// The string member `key`; "" when absent or not a string.
inline std::string stringField(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* v = member(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

// The string at a path of members ({"properties", "vmId"}); "" when any step is missing.
inline std::string stringAt(const nlohmann::json& j, std::initializer_list<std::string_view> path) {
  const nlohmann::json* cur = &j;
  for (std::string_view key : path) {
    cur = member(*cur, key);
    if (!cur) return {};
  }
  return cur->is_string() ? cur->get<std::string>() : std::string();
}

// Parses `text` as json::parse(text, nullptr, false) does (a discarded value when malformed),
// and also gives a discarded value when the document nests deeper than `maxDepth`: nlohmann's
// parser is iterative, but dump() and copies recurse once per level, so a hostile peer's
// "[[[[...]]]]" would overflow the stack later (found by fuzz_watch_line).
inline nlohmann::json parseBounded(std::string_view text, int maxDepth) {
  bool tooDeep = false;
  nlohmann::json::parser_callback_t limit =
      [&tooDeep, maxDepth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth <= maxDepth) return true;
        tooDeep = true;
        return false;
      };
  nlohmann::json out = nlohmann::json::parse(text, limit, false);
  if (tooDeep) return nlohmann::json(nlohmann::json::value_t::discarded);
  return out;
}

}  // namespace pp::jsonf
