#include "apf/apf_config.h"

#include <fmt/format.h>

#include <array>
#include <nlohmann/json.hpp>
#include <span>

#include "base/encoding.h"
#include "base/files.h"

namespace pp::apf {
namespace {

using json = nlohmann::json;
// Parsing keeps the document's key order: when two spellings of a key appear (Go matches keys
// case-insensitively), the later one has to win, as in Go's decoder.
using ordered_json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Writing, the way Go's encoding/json does.

// Go's utf8.DecodeRuneInString: the length of the valid sequence at s[i], 0 if there is none
// (overlong forms, surrogates, values past U+10FFFF and truncated sequences are all invalid).
size_t utf8SequenceLength(std::string_view s, size_t i, char32_t* rune) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // not a surrogate
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // not past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  char32_t r = b0 & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < n; ++k) r = (r << 6) | (byte(i + k) & 0x3F);
  *rune = r;
  return n;
}

// A JSON string literal as Go (1.22 and later, which upstream builds with) escapes it with
// HTML escaping on, json.Marshal's default: the result is safe inside <script> and survives
// any JavaScript parser, and it is what an upstream adaptor writes for the same text.
void appendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    char32_t rune = 0;
    size_t n = utf8SequenceLength(s, i, &rune);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else if (rune == 0x2028 || rune == 0x2029) {
      out += rune == 0x2028 ? "\\u2028" : "\\u2029";
      i += n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out += '"';
}

class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  ~ObjectWriter() { out_ += '}'; }
  std::string& key(std::string_view name) {
    if (!first_) out_ += ',';
    first_ = false;
    appendString(out_, name);
    out_ += ':';
    return out_;
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// Values of podnetwork's JSON form: only scalars and the nested objects handled below.
void appendValue(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      appendString(out, value.get_ref<const std::string&>());
      break;
    case json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < value.size(); ++i) {
        if (i) out += ',';
        appendValue(out, value[i]);
      }
      out += ']';
      break;
    }
    case json::value_t::object: {
      ObjectWriter w(out);
      for (const auto& [k, v] : value.items()) appendValue(w.key(k), v);
      break;
    }
    default:
      out += value.dump();  // null, booleans and integers print as Go prints them
  }
}

// Field order of upstream's tunneler.Config, Route and Neighbor, which Go writes keys in.
constexpr std::array<std::string_view, 13> kPodNetworkKeys = {"podip",
                                                              "pod-hw-addr",
                                                              "interface",
                                                              "worker-node-ip",
                                                              "tunnel-type",
                                                              "routes",
                                                              "neighbors",
                                                              "mtu",
                                                              "index",
                                                              "vxlan-port",
                                                              "vxlan-id",
                                                              "dedicated",
                                                              "external-net-via-pod-vm"};
constexpr std::array<std::string_view, 5> kRouteKeys = {"dst", "gw", "dev", "protocol", "scope"};
constexpr std::array<std::string_view, 4> kNeighborKeys = {"ip", "hw-addr", "dev", "state"};

bool contains(std::span<const std::string_view> keys, std::string_view key) {
  for (auto k : keys) {
    if (k == key) return true;
  }
  return false;
}

void appendInOrder(std::string& out, const json& object, std::span<const std::string_view> order);

void appendList(std::string& out, const json& list, std::span<const std::string_view> itemOrder) {
  if (!list.is_array() || list.empty()) {
    out += "null";  // upstream's adaptor appends to a nil slice: no items is null, not []
    return;
  }
  out += '[';
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    appendInOrder(out, list[i], itemOrder);
  }
  out += ']';
}

// podnetwork renders values in upstream's formats (its own tests hold that); the order of the
// keys is the struct's, which an std::map-backed json object cannot keep, so it is imposed here.
void appendInOrder(std::string& out, const json& object, std::span<const std::string_view> order) {
  if (!object.is_object()) {
    appendValue(out, object);
    return;
  }
  ObjectWriter w(out);
  for (std::string_view key : order) {
    auto it = object.find(key);
    if (it == object.end()) continue;  // omitempty
    if (key == "routes") {
      appendList(w.key(key), *it, kRouteKeys);
    } else if (key == "neighbors") {
      appendList(w.key(key), *it, kNeighborKeys);
    } else {
      appendValue(w.key(key), *it);
    }
  }
  // A key podnetwork writes that this table does not list yet: keep it rather than drop data.
  for (const auto& [k, v] : object.items()) {
    if (!contains(order, k)) appendValue(w.key(k), v);
  }
}

void appendStringList(std::string& out, const std::vector<std::string>& list) {
  out += '[';
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    appendString(out, list[i]);
  }
  out += ']';
}

// json.Indent's rules, applied to compact output: a line per member and element, "key": value,
// empty objects and arrays stay on one line.
std::string indentGo(std::string_view compact, std::string_view unit) {
  std::string out;
  out.reserve(compact.size() + compact.size() / 4);
  int depth = 0;
  bool inString = false, escaped = false, needIndent = false;
  auto newline = [&] {
    out += '\n';
    for (int i = 0; i < depth; ++i) out += unit;
  };
  for (char c : compact) {
    if (inString) {
      out += c;
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    if (needIndent && c != '}' && c != ']') {
      needIndent = false;
      ++depth;
      newline();
    }
    switch (c) {
      case '"':
        inString = true;
        out += c;
        break;
      case '{':
      case '[':
        out += c;
        needIndent = true;
        break;
      case ',':
        out += c;
        newline();
        break;
      case ':':
        out += ": ";
        break;
      case '}':
      case ']':
        if (needIndent) {
          needIndent = false;  // empty: "{}" / "[]"
        } else {
          --depth;
          newline();
        }
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading, the way Go's encoding/json does.

// Go matches an object key to a field name exactly, else under Unicode simple case folding. Our
// names are lowercase ASCII, so folding a key onto them takes ASCII lowercasing plus the two
// non-ASCII letters whose folding orbit reaches ASCII: U+017F (long s) and U+212A (Kelvin sign).
std::string foldKey(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (key.substr(i, 2) == "\xC5\xBF") {
      out += 's';
      ++i;
    } else if (key.substr(i, 3) == "\xE2\x84\xAA") {
      out += 'k';
      i += 2;
    } else {
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  return out;
}

std::optional<std::string_view> matchKey(std::string_view key,
                                         std::span<const std::string_view> names) {
  std::string folded = foldKey(key);
  for (auto name : names) {
    if (folded == name) return name;
  }
  return std::nullopt;
}

// podnetwork reads keys exactly; rename each key Go would match onto its canonical spelling so
// the nested object is read as Go reads it. Later spellings replace earlier ones, as in Go.
json canonicalObject(const ordered_json& value, std::span<const std::string_view> names) {
  if (!value.is_object()) return json(value);
  const bool podNetworkLevel = names.data() == kPodNetworkKeys.data();
  json out = json::object();
  for (const auto& [k, v] : value.items()) {
    auto name = matchKey(k, names);
    std::string key = name ? std::string(*name) : k;
    std::span<const std::string_view> itemNames;
    if (podNetworkLevel && key == "routes") itemNames = kRouteKeys;
    if (podNetworkLevel && key == "neighbors") itemNames = kNeighborKeys;
    if (!itemNames.empty() && v.is_array()) {
      json list = json::array();
      for (const auto& item : v) list.push_back(canonicalObject(item, itemNames));
      out[key] = std::move(list);
    } else {
      out[key] = json(v);
    }
  }
  return out;
}

Error typeError(std::string_view key, std::string_view want, const ordered_json& got) {
  return Error(Code::kInvalidArgument,
               fmt::format("apf.json: \"{}\" must be {}, not {}", key, want, got.type_name()));
}

Status readString(std::string_view key, const ordered_json& v, std::string* out) {
  if (v.is_null()) return {};  // Go leaves the field as it was
  if (!v.is_string()) return fail(typeError(key, "a string", v));
  *out = v.get<std::string>();
  return {};
}

Status readBool(std::string_view key, const ordered_json& v, bool* out) {
  if (v.is_null()) return {};
  if (!v.is_boolean()) return fail(typeError(key, "true or false", v));
  *out = v.get<bool>();
  return {};
}

Status readStringList(std::string_view key, const ordered_json& v, std::vector<std::string>* out) {
  if (v.is_null()) {
    out->clear();  // Go sets a slice to nil on null
    return {};
  }
  if (!v.is_array()) return fail(typeError(key, "an array of strings", v));
  std::vector<std::string> list;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].is_null()) {
      list.emplace_back();  // a null element stays the zero string
    } else if (v[i].is_string()) {
      list.push_back(v[i].get<std::string>());
    } else {
      return fail(typeError(fmt::format("{}[{}]", key, i), "a string", v[i]));
    }
  }
  *out = std::move(list);
  return {};
}

// A Go []byte: standard base64 with padding (Go's decoder skips line breaks), or, as Go also
// accepts, an array of byte values.
Status readBytes(std::string_view key, const ordered_json& v, std::string* out) {
  if (v.is_null()) {
    out->clear();
    return {};
  }
  if (v.is_array()) {
    std::string bytes;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_number_unsigned() || v[i].get<uint64_t>() > 255) {
        return fail(Error(Code::kInvalidArgument,
                          fmt::format("apf.json: \"{}[{}]\" must be an integer 0..255", key, i)));
      }
      bytes += static_cast<char>(v[i].get<uint64_t>());
    }
    *out = std::move(bytes);
    return {};
  }
  if (!v.is_string()) return fail(typeError(key, "a base64 string", v));
  std::string text;
  for (char c : v.get_ref<const std::string&>()) {
    if (c != '\r' && c != '\n') text += c;
  }
  auto decoded = encoding::base64Decode(text);
  if (!decoded) {
    return fail(Error(Code::kInvalidArgument,
                      fmt::format("apf.json: \"{}\" is not standard padded base64", key)));
  }
  *out = std::move(*decoded);
  return {};
}

Status readPodNetwork(std::string_view key, const ordered_json& v,
                      std::optional<podnetwork::PodNetworkConfig>* out) {
  if (v.is_null()) {
    out->reset();
    return {};
  }
  if (!v.is_object()) return fail(typeError(key, "an object or null", v));
  auto network = podnetwork::PodNetworkConfig::fromJson(canonicalObject(v, kPodNetworkKeys));
  if (!network) return fail(network.error().wrap("apf.json"));
  *out = std::move(*network);
  return {};
}

constexpr std::array<std::string_view, 13> kKeys = {"pod-network",
                                                    "pod-namespace",
                                                    "pod-name",
                                                    "tls-server-key",
                                                    "tls-server-cert",
                                                    "tls-client-ca",
                                                    "tls-min-version",
                                                    "tls-cipher-suites",
                                                    "sc-pp-prv",
                                                    "sc-wn-pub",
                                                    "sc-inbounds",
                                                    "sc-outbounds",
                                                    "sc"};

Status readField(std::string_view key, const ordered_json& v, ApfConfig& c) {
  if (key == "pod-network") return readPodNetwork(key, v, &c.podNetwork);
  if (key == "pod-namespace") return readString(key, v, &c.podNamespace);
  if (key == "pod-name") return readString(key, v, &c.podName);
  if (key == "tls-server-key") return readString(key, v, &c.tlsServerKey);
  if (key == "tls-server-cert") return readString(key, v, &c.tlsServerCert);
  if (key == "tls-client-ca") return readString(key, v, &c.tlsClientCa);
  if (key == "tls-min-version") return readString(key, v, &c.tlsMinVersion);
  if (key == "tls-cipher-suites") return readStringList(key, v, &c.tlsCipherSuites);
  if (key == "sc-pp-prv") return readBytes(key, v, &c.ppPrivateKey);
  if (key == "sc-wn-pub") return readBytes(key, v, &c.wnPublicKey);
  if (key == "sc-inbounds") return readString(key, v, &c.secureCommsInbounds);
  if (key == "sc-outbounds") return readString(key, v, &c.secureCommsOutbounds);
  return readBool(key, v, &c.secureComms);  // "sc"
}

void appendConfig(std::string& out, const ApfConfig& c) {
  ObjectWriter w(out);  // closes the object when it goes out of scope
  if (c.podNetwork) {
    appendInOrder(w.key("pod-network"), c.podNetwork->toJson(), kPodNetworkKeys);
  } else {
    w.key("pod-network") += "null";
  }
  appendString(w.key("pod-namespace"), c.podNamespace);
  appendString(w.key("pod-name"), c.podName);
  auto optional = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) appendString(w.key(key), value);
  };
  optional("tls-server-key", c.tlsServerKey);
  optional("tls-server-cert", c.tlsServerCert);
  optional("tls-client-ca", c.tlsClientCa);
  optional("tls-min-version", c.tlsMinVersion);
  if (!c.tlsCipherSuites.empty()) appendStringList(w.key("tls-cipher-suites"), c.tlsCipherSuites);
  if (!c.ppPrivateKey.empty())
    appendString(w.key("sc-pp-prv"), encoding::base64Encode(c.ppPrivateKey));
  if (!c.wnPublicKey.empty())
    appendString(w.key("sc-wn-pub"), encoding::base64Encode(c.wnPublicKey));
  optional("sc-inbounds", c.secureCommsInbounds);
  optional("sc-outbounds", c.secureCommsOutbounds);
  if (c.secureComms) w.key("sc") += "true";
}

}  // namespace

std::string ApfConfig::toJson() const {
  std::string out;
  out.reserve(512 + tlsServerKey.size() + tlsServerCert.size() + tlsClientCa.size());
  appendConfig(out, *this);
  return out;
}

std::string ApfConfig::toJsonIndented() const {
  return indentGo(toJson(), "    ");
}

Result<ApfConfig> ApfConfig::parse(std::string_view text) {
  if (text.size() > kMaxApfJsonBytes) {
    return fail(
        Code::kInvalidArgument,
        fmt::format("apf.json: {} bytes, more than the {} a pod VM's configuration may have",
                    text.size(), kMaxApfJsonBytes));
  }
  auto root = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return fail(Code::kInvalidArgument, "apf.json: not valid JSON (or not valid UTF-8)");
  }
  if (!root.is_object()) {
    return fail(Code::kInvalidArgument,
                fmt::format("apf.json: must be a JSON object, not {}", root.type_name()));
  }
  ApfConfig config;
  for (const auto& [key, value] : root.items()) {
    auto name = matchKey(key, kKeys);
    if (!name) continue;  // a key from a newer (or older) adaptor
    if (auto st = readField(*name, value, config); !st) return fail(std::move(st.error()));
  }
  return config;
}

Result<ApfConfig> ApfConfig::load(const std::string& path) {
  auto text = files::readFile(path, kMaxApfJsonBytes);
  if (!text) return fail(text.error().wrap("forwarder config"));
  auto config = parse(*text);
  if (!config) return fail(config.error().wrap(path));
  return config;
}

}  // namespace pp::apf
