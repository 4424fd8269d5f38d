// PodNetworkConfig <-> JSON, matching what Go's encoding/json makes of upstream's
// tunneler.Config: netip values as text ("" when unset), omitempty ints left out when zero, route
// protocol/scope and neighbour state as the names vishvananda/netlink prints.
#include "podnetwork/config.h"

#include <fmt/format.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

namespace pp::podnetwork {
namespace {

using json = nlohmann::json;

constexpr std::pair<uint8_t, std::string_view> kProtocols[] = {
    {RTPROT_STATIC, "static"},
    {RTPROT_BOOT, "boot"},
    {RTPROT_DHCP, "dhcp"},
    {RTPROT_KERNEL, "kernel"},
};

constexpr std::pair<uint8_t, std::string_view> kScopes[] = {
    {RT_SCOPE_UNIVERSE, "universe"}, {RT_SCOPE_SITE, "site"},       {RT_SCOPE_LINK, "link"},
    {RT_SCOPE_HOST, "host"},         {RT_SCOPE_NOWHERE, "nowhere"},
};

constexpr std::pair<uint16_t, std::string_view> kNeighborStates[] = {
    {NUD_NONE, "none"},     {NUD_INCOMPLETE, "incomplete"}, {NUD_REACHABLE, "reachable"},
    {NUD_STALE, "stale"},   {NUD_DELAY, "delay"},           {NUD_PROBE, "probe"},
    {NUD_FAILED, "failed"}, {NUD_NOARP, "noarp"},           {NUD_PERMANENT, "permanent"},
};

template <typename T, size_t N>
std::string nameOf(const std::pair<T, std::string_view> (&table)[N], T value) {
  for (const auto& [v, name] : table) {
    if (v == value) return std::string(name);
  }
  return std::to_string(value);
}

template <typename T, size_t N>
std::optional<T> valueOf(const std::pair<T, std::string_view> (&table)[N], std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

Error badKey(std::string_view key, std::string_view why) {
  return Error(Code::kInvalidArgument, fmt::format("pod-network: \"{}\" {}", key, why));
}

// Reads an optional member: absent and null both mean "not set", as for Go's decoder.
const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Status readString(const json& object, const char* key, std::string* out) {
  const json* value = member(object, key);
  if (!value) return {};
  if (!value->is_string()) return fail(badKey(key, "must be a string"));
  *out = value->get<std::string>();
  return {};
}

Status readBool(const json& object, const char* key, bool* out) {
  const json* value = member(object, key);
  if (!value) return {};
  if (!value->is_boolean()) return fail(badKey(key, "must be true or false"));
  *out = value->get<bool>();
  return {};
}

Status readInt(const json& object, const char* key, int64_t min, int64_t max, int64_t* out) {
  const json* value = member(object, key);
  if (!value) return {};
  if (!value->is_number_integer()) return fail(badKey(key, "must be an integer"));
  int64_t n = 0;
  if (value->is_number_unsigned()) {
    uint64_t u = value->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) {
      return fail(badKey(key, fmt::format("must be between {} and {}", min, max)));
    }
    n = static_cast<int64_t>(u);
  } else {
    n = value->get<int64_t>();
  }
  if (n < min || n > max) {
    return fail(badKey(key, fmt::format("must be between {} and {}", min, max)));
  }
  *out = n;
  return {};
}

// Text-encoded values (netip.Prefix, netip.Addr, MAC): "" means unset.
template <typename T>
Status readText(const json& object, const char* key, std::optional<T>* out) {
  std::string text;
  if (auto s = readString(object, key, &text); !s) return s;
  if (text.empty()) {
    out->reset();
    return {};
  }
  auto parsed = T::parse(text);
  if (!parsed) return fail(badKey(key, parsed.error().message));
  *out = *parsed;
  return {};
}

template <typename T, size_t N>
Status readName(const json& object, const char* key,
                const std::pair<T, std::string_view> (&table)[N], T* out) {
  std::string name;
  if (auto s = readString(object, key, &name); !s) return s;
  if (name.empty() && !member(object, key)) return {};
  auto value = valueOf(table, name);
  if (!value) return fail(badKey(key, fmt::format("has unknown value \"{}\"", name)));
  *out = *value;
  return {};
}

Result<Route> routeFromJson(const json& object, size_t index) {
  if (!object.is_object()) {
    return fail(badKey(fmt::format("routes[{}]", index), "must be an object"));
  }
  Route route;
  Status s = readText(object, "dst", &route.dst);
  if (s) s = readText(object, "gw", &route.gw);
  if (s) s = readString(object, "dev", &route.dev);
  if (s) s = readName(object, "protocol", kProtocols, &route.protocol);
  if (s) s = readName(object, "scope", kScopes, &route.scope);
  if (!s) return fail(s.error().wrap(fmt::format("routes[{}]", index)));
  // A zero-length destination is the default route however it was spelt.
  if (route.dst && route.dst->length == 0) route.dst.reset();
  return route;
}

Result<Neighbor> neighborFromJson(const json& object, size_t index) {
  if (!object.is_object()) {
    return fail(badKey(fmt::format("neighbors[{}]", index), "must be an object"));
  }
  Neighbor neighbor;
  std::optional<Ipv4Address> ip;
  Status s = readText(object, "ip", &ip);
  if (s) s = readText(object, "hw-addr", &neighbor.hwAddr);
  if (s) s = readString(object, "dev", &neighbor.dev);
  if (s) s = readName(object, "state", kNeighborStates, &neighbor.state);
  if (!s) return fail(s.error().wrap(fmt::format("neighbors[{}]", index)));
  if (ip) neighbor.ip = *ip;
  return neighbor;
}

template <typename T, typename F>
Status readList(const json& object, const char* key, F parseOne, std::vector<T>* out) {
  const json* value = member(object, key);
  if (!value) return {};
  if (!value->is_array()) return fail(badKey(key, "must be an array"));
  out->clear();
  for (size_t i = 0; i < value->size(); ++i) {
    auto item = parseOne((*value)[i], i);
    if (!item) return fail(std::move(item.error()));
    out->push_back(std::move(*item));
  }
  return {};
}

}  // namespace

json PodNetworkConfig::toJson() const {
  json routesJson = json::array();
  for (const Route& r : routes) {
    json item = {{"dst", r.dst ? r.dst->toString() : ""}, {"gw", r.gw ? r.gw->toString() : ""}};
    if (!r.dev.empty()) item["dev"] = r.dev;
    if (r.protocol != 0) item["protocol"] = nameOf(kProtocols, r.protocol);
    if (r.scope != 0) item["scope"] = nameOf(kScopes, r.scope);
    routesJson.push_back(std::move(item));
  }
  json neighborsJson = json::array();
  for (const Neighbor& n : neighbors) {
    json item = {{"ip", n.ip.toString()}};
    if (n.hwAddr) item["hw-addr"] = n.hwAddr->toString();
    if (!n.dev.empty()) item["dev"] = n.dev;
    if (n.state != 0) item["state"] = nameOf(kNeighborStates, n.state);
    neighborsJson.push_back(std::move(item));
  }
  json out = {
      {"podip", podIp ? podIp->toString() : ""},
      {"pod-hw-addr", podHwAddr ? podHwAddr->toString() : ""},
      {"interface", interfaceName},
      {"worker-node-ip", workerNodeIp ? workerNodeIp->toString() : ""},
      {"tunnel-type", tunnelType},
      {"routes", std::move(routesJson)},
      {"neighbors", std::move(neighborsJson)},
      {"mtu", mtu},
      {"index", index},
      {"dedicated", dedicated},
      {"external-net-via-pod-vm", externalNetViaPodVm},
  };
  if (vxlanPort != 0) out["vxlan-port"] = vxlanPort;
  if (vxlanId != 0) out["vxlan-id"] = vxlanId;
  return out;
}

std::string PodNetworkConfig::toJsonString() const {
  return toJson().dump();
}

Result<PodNetworkConfig> PodNetworkConfig::fromJson(const json& object) {
  if (!object.is_object()) {
    return fail(Code::kInvalidArgument, "pod-network: must be a JSON object");
  }
  PodNetworkConfig config;
  int64_t mtu = 0, index = 0, port = 0, vni = 0;
  Status s = readText(object, "podip", &config.podIp);
  if (s) s = readText(object, "pod-hw-addr", &config.podHwAddr);
  if (s) s = readString(object, "interface", &config.interfaceName);
  if (s) s = readText(object, "worker-node-ip", &config.workerNodeIp);
  if (s) s = readString(object, "tunnel-type", &config.tunnelType);
  if (s) s = readList(object, "routes", routeFromJson, &config.routes);
  if (s) s = readList(object, "neighbors", neighborFromJson, &config.neighbors);
  if (s) s = readInt(object, "mtu", 0, 65535, &mtu);
  if (s) s = readInt(object, "index", 0, kMaxVni, &index);
  if (s) s = readInt(object, "vxlan-port", 0, 65535, &port);
  if (s) s = readInt(object, "vxlan-id", 0, kMaxVni, &vni);
  if (s) s = readBool(object, "dedicated", &config.dedicated);
  if (s) s = readBool(object, "external-net-via-pod-vm", &config.externalNetViaPodVm);
  if (!s) return fail(std::move(s.error()));
  config.mtu = static_cast<int>(mtu);
  config.index = static_cast<int>(index);
  config.vxlanPort = static_cast<int>(port);
  config.vxlanId = static_cast<uint32_t>(vni);
  return config;
}

int tunnelMtu(int podMtu, int underlayMtu) {
  int mtu = underlayMtu - kVxlanOverhead;
  if (podMtu > 0) mtu = std::min(mtu, podMtu);
  // Never below the IPv4 minimum (68), which the kernel would refuse for the interface.
  return std::max(mtu, 68);
}

Result<PodNetworkConfig> PodNetworkConfig::parse(std::string_view text) {
  json object = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    return fail(Code::kInvalidArgument, "pod-network: not valid JSON");
  }
  return fromJson(object);
}

}  // namespace pp::podnetwork
