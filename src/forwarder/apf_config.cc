#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/files.h"
#include "forwarder/forwarder.h"

namespace pp::forwarder {
namespace {

using json = nlohmann::json;

Error badKey(std::string_view key, std::string_view why) {
  return Error(Code::kInvalidArgument,
               "apf.json: \"" + std::string(key) + "\" " + std::string(why));
}

Status readString(const json& object, const char* key, std::string* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) return fail(badKey(key, "must be a string"));
  *out = it->get<std::string>();
  return {};
}

// Go's encoding/json writes []byte as standard base64.
Status readBytes(const json& object, const char* key, std::string* out) {
  std::string text;
  if (auto st = readString(object, key, &text); !st) return st;
  if (text.empty()) return {};
  auto decoded = encoding::base64Decode(text);
  if (!decoded) return fail(badKey(key, "is not base64"));
  *out = std::move(*decoded);
  return {};
}

}  // namespace

Result<ApfConfig> ApfConfig::parse(std::string_view text) {
  auto root = json::parse(text, nullptr, false);
  if (root.is_discarded()) return fail(Code::kInvalidArgument, "apf.json: not valid JSON");
  if (!root.is_object()) return fail(Code::kInvalidArgument, "apf.json: must be a JSON object");
  ApfConfig config;
  if (auto it = root.find("pod-network"); it != root.end() && !it->is_null()) {
    auto network = podnetwork::PodNetworkConfig::fromJson(*it);
    if (!network) return fail(network.error().wrap("apf.json"));
    config.podNetwork = std::move(*network);
  }
  Status st = readString(root, "pod-namespace", &config.podNamespace);
  if (st) st = readString(root, "pod-name", &config.podName);
  if (st) st = readBytes(root, "tls-server-key", &config.tlsServerKey);
  if (st) st = readBytes(root, "tls-server-cert", &config.tlsServerCert);
  if (st) st = readBytes(root, "tls-client-ca", &config.tlsClientCa);
  if (!st) return fail(st.error());
  return config;
}

Result<ApfConfig> ApfConfig::load(const std::string& path) {
  auto text = files::readFile(path, 1u << 20);
  if (!text) return fail(text.error().wrap("forwarder config"));
  auto config = parse(*text);
  if (!config) return fail(config.error().wrap(path));
  return config;
}

}  // namespace pp::forwarder
