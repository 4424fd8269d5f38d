#include "providers/byom/pool_state.h"

#include <openssl/evp.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "base/utc_time.h"

namespace pp::providers::byom {

using OrderedJson = nlohmann::ordered_json;

const IpAllocation* PoolState::findByIp(std::string_view ip) const {
  for (const auto& [id, a] : allocated)
    if (a.ip == ip) return &a;
  return nullptr;
}

std::string rfc3339(int64_t t) {
  return utc::format(std::chrono::system_clock::from_time_t(static_cast<std::time_t>(t)));
}

Result<int64_t> parseRfc3339(std::string_view text) {
  // metav1.Time: RFC 3339 with "Z" or an offset; fractions are dropped, as metav1 does.
  auto t = utc::parseRfc3339(text);
  if (!t)
    return fail(Code::kInvalidArgument, "not an RFC 3339 time: \"" + std::string(text) + "\"");
  return static_cast<int64_t>(std::chrono::system_clock::to_time_t(*t));
}

namespace {

OrderedJson timeJson(int64_t t) {
  return t == 0 ? OrderedJson(nullptr) : OrderedJson(rfc3339(t));
}

Result<int64_t> timeField(const nlohmann::json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return int64_t{0};
  if (!it->is_string()) return fail(Code::kDataLoss, where + "." + key + " is not a time string");
  auto t = parseRfc3339(it->get<std::string>());
  if (!t) return fail(Code::kDataLoss, where + "." + key + ": " + t.error().message);
  return *t;
}

Result<std::string> stringField(const nlohmann::json& object, const char* key,
                                const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return fail(Code::kDataLoss, where + "." + key + " is not a string");
  return it->get<std::string>();
}

}  // namespace

std::string toJson(const PoolState& state) {
  OrderedJson allocated = OrderedJson::object();
  for (const auto& [id, a] : state.allocated) {  // std::map: sorted keys, as Go writes maps
    OrderedJson j;
    j["allocationID"] = a.allocationId;
    j["ip"] = a.ip;
    j["nodeName"] = a.nodeName;
    j["podName"] = a.podName;
    j["allocatedAt"] = timeJson(a.allocatedAt);
    if (!a.sandboxId.empty()) j["sandboxID"] = a.sandboxId;
    if (!a.instanceName.empty()) j["instanceName"] = a.instanceName;
    if (a.drainingSince != 0) j["drainingSince"] = rfc3339(a.drainingSince);
    allocated[id] = std::move(j);
  }
  OrderedJson doc;
  doc["allocatedIPs"] = std::move(allocated);
  doc["availableIPs"] = state.available;
  doc["lastUpdated"] = timeJson(state.lastUpdated);
  doc["version"] = state.version;
  // Go escapes <, > and & in strings; nlohmann does not. Addresses and Kubernetes names never
  // hold them, and both decoders read either spelling.
  return doc.dump(2);
}

Result<PoolState> parsePoolState(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return fail(Code::kDataLoss, std::string(kStateKey) + " is not a JSON object");
  PoolState s;
  const std::string where = kStateKey;
  if (auto it = doc.find("allocatedIPs"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return fail(Code::kDataLoss, where + ".allocatedIPs is not an object");
    for (const auto& [id, j] : it->items()) {
      const std::string w = where + ".allocatedIPs[\"" + id + "\"]";
      if (!j.is_object()) return fail(Code::kDataLoss, w + " is not an object");
      IpAllocation a;
      auto allocationId = stringField(j, "allocationID", w);
      auto ip = stringField(j, "ip", w);
      auto node = stringField(j, "nodeName", w);
      auto pod = stringField(j, "podName", w);
      auto sandbox = stringField(j, "sandboxID", w);
      auto name = stringField(j, "instanceName", w);
      auto at = timeField(j, "allocatedAt", w);
      auto draining = timeField(j, "drainingSince", w);
      for (const auto* r : {&allocationId, &ip, &node, &pod, &sandbox, &name})
        if (!*r) return fail(r->error());
      if (!at) return fail(at.error());
      if (!draining) return fail(draining.error());
      if (ip->empty()) return fail(Code::kDataLoss, w + ".ip is empty");
      a.allocationId = *allocationId;
      a.ip = *ip;
      a.nodeName = *node;
      a.podName = *pod;
      a.sandboxId = *sandbox;
      a.instanceName = *name;
      a.allocatedAt = *at;
      a.drainingSince = *draining;
      s.allocated[id] = std::move(a);
    }
  }
  if (auto it = doc.find("availableIPs"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return fail(Code::kDataLoss, where + ".availableIPs is not an array");
    for (const auto& ip : *it) {
      if (!ip.is_string()) return fail(Code::kDataLoss, where + ".availableIPs holds a non-string");
      s.available.push_back(ip.get<std::string>());
    }
  }
  auto updated = timeField(doc, "lastUpdated", where);
  if (!updated) return fail(updated.error());
  s.lastUpdated = *updated;
  if (auto it = doc.find("version"); it != doc.end() && !it->is_null()) {
    if (!it->is_number_integer())
      return fail(Code::kDataLoss, where + ".version is not an integer");
    s.version = it->get<int64_t>();
  }
  return s;
}

PoolState freshState(const std::vector<std::string>& pool, int64_t now) {
  PoolState s;
  s.available = pool;
  s.lastUpdated = now;
  s.version = 1;
  return s;
}

void recoverAvailable(PoolState& state, const std::vector<std::string>& pool, int64_t now) {
  std::set<std::string> taken;
  for (const auto& [id, a] : state.allocated) taken.insert(a.ip);
  state.available.clear();
  for (const auto& ip : pool)
    if (!taken.contains(ip)) state.available.push_back(ip);
  state.lastUpdated = now;
  ++state.version;
}

size_t selectIndex(size_t count, std::string_view allocationId) {
  if (count <= 1) return 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(allocationId.data(), allocationId.size(), digest, &len, EVP_md5(), nullptr);
  uint32_t seed = (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) |
                  (uint32_t{digest[2]} << 8) | uint32_t{digest[3]};
  return static_cast<size_t>(seed % count);
}

}  // namespace pp::providers::byom
