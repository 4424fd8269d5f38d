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

}  // namespace pp::jsonf
