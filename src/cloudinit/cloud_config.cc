#include "cloudinit/cloud_config.h"

#include <yaml-cpp/yaml.h>
#include <zlib.h>

#include <regex>

#include "base/encoding.h"

namespace pp::cloudinit {
namespace {

constexpr size_t kMaxInitdata = 256 * 1024;

Result<std::string> gunzip(const std::string& data) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return fail(Code::kInternal, "zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > kMaxInitdata) {
      inflateEnd(&zs);
      return fail(Code::kInvalidArgument, "initdata: decompressed size above 256 KiB");
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return fail(Code::kInvalidArgument, "initdata: not valid gzip data");
  return out;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Status checkInitdataToml(const std::string& toml) {
  static const std::regex algorithm(R"re((^|\n)\s*algorithm\s*=\s*("(sha256|sha384|sha512)"|'(sha256|sha384|sha512)'))re");
  static const std::regex version(R"re((^|\n)\s*version\s*=\s*("[^"]+"|'[^']+'))re");
  if (!std::regex_search(toml, algorithm)) {
    return fail(Code::kInvalidArgument, "initdata: missing or unsupported `algorithm` (sha256, sha384 or sha512)");
  }
  if (!std::regex_search(toml, version)) return fail(Code::kInvalidArgument, "initdata: missing `version`");
  return {};
}

}  // namespace

std::string renderCloudConfig(const std::vector<WriteFile>& files) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "write_files" << YAML::Value << YAML::BeginSeq;
  for (const auto& f : files) {
    out << YAML::BeginMap << YAML::Key << "path" << YAML::Value << f.path << YAML::Key << "content"
        << YAML::Value;
    if (f.content.find('\n') != std::string::npos) out << YAML::Literal;
    out << f.content << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string("#cloud-config\n") + out.c_str() + "\n";
}

Result<std::vector<WriteFile>> parseCloudConfig(const std::string& text,
                                                const CloudConfigLimits& limits) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) return fail(Code::kInvalidArgument, "user data is not a YAML mapping");
    std::vector<WriteFile> out;
    size_t contentBytes = 0;
    bool haveWriteFiles = false;
    for (const auto& kv : root) {
      auto key = kv.first.as<std::string>();
      if (key != "write_files") return fail(Code::kInvalidArgument, "user data: unexpected key \"" + key + "\"");
      if (haveWriteFiles) return fail(Code::kInvalidArgument, "user data: write_files given twice");
      haveWriteFiles = true;
      if (!kv.second.IsSequence()) return fail(Code::kInvalidArgument, "user data: write_files is not a list");
      if (kv.second.size() > limits.maxFiles) {
        return fail(Code::kInvalidArgument, "user data: more than " + std::to_string(limits.maxFiles) +
                                                 " write_files entries");
      }
      for (const auto& item : kv.second) {
        if (!item.IsMap()) return fail(Code::kInvalidArgument, "user data: write_files entry is not a mapping");
        WriteFile f;
        bool havePath = false;
        bool haveContent = false;
        for (const auto& field : item) {
          auto name = field.first.as<std::string>();
          const bool nullContent = name == "content" && field.second.IsNull();
          if (!field.second.IsScalar() && !nullContent) {
            return fail(Code::kInvalidArgument, "user data: " + name + " is not a string");
          }
          bool* seen = name == "path" ? &havePath : name == "content" ? &haveContent : nullptr;
          if (seen == nullptr) {
            return fail(Code::kInvalidArgument, "user data: unexpected write_files field \"" + name + "\"");
          }
          if (*seen) return fail(Code::kInvalidArgument, "user data: write_files field " + name + " given twice");
          *seen = true;
          if (nullContent) continue;
          // Counted before copying, so that aliases of one big scalar cannot blow up memory.
          contentBytes += field.second.Scalar().size();
          if (contentBytes > limits.maxContentBytes) {
            return fail(Code::kInvalidArgument, "user data: write_files contents above " +
                                                     std::to_string(limits.maxContentBytes) + " bytes");
          }
          (name == "path" ? f.path : f.content) = field.second.Scalar();
        }
        if (!havePath) return fail(Code::kInvalidArgument, "user data: write_files entry without path");
        out.push_back(std::move(f));
      }
    }
    return out;
  } catch (const YAML::Exception& e) {
    return fail(Code::kInvalidArgument, std::string("user data is not valid YAML: ") + e.what());
  }
}

Result<std::string> decodeInitdata(const std::string& encoded) {
  if (encoded.size() > kMaxInitdata) return fail(Code::kInvalidArgument, "initdata above 256 KiB");
  auto raw = encoding::base64Decode(encoded);
  if (!raw) return fail(Code::kInvalidArgument, "initdata is not valid base64");
  auto toml = gunzip(*raw);
  if (!toml) return toml;
  if (auto st = checkInitdataToml(*toml); !st) return fail(st.error());
  return toml;
}

Result<std::string> normaliseInitdata(const std::string& value) {
  if (value.empty()) return std::string();
  if (auto toml = decodeInitdata(value); toml) return value;
  // Not base64(gzip(...)): accept plain TOML, as upstream's adaptor does.
  if (value.size() > kMaxInitdata) return fail(Code::kInvalidArgument, "initdata above 256 KiB");
  if (auto st = checkInitdataToml(value); !st) return fail(st.error());
  return encoding::base64Encode(gzip(value));
}

}  // namespace pp::cloudinit
