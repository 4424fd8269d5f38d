// Initdata decoding, digest and extraction into /run/peerpod (see initdata.h).
#include "userdata/initdata.h"

#include <openssl/evp.h>

#include <algorithm>

#include "base/encoding.h"
#include "base/log.h"
#include "cloudinit/initdata.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

constexpr char kLog[] = "userdata";
// The encoded file; the decoded TOML is bounded by cloudinit::decodeInitdata (256 KiB).
constexpr size_t kMaxInitdataFile = 512 * 1024;

}  // namespace

Result<std::string> initdataDigest(std::string_view algorithm, std::string_view bytes) {
  const EVP_MD* md = algorithm == "sha256"   ? EVP_sha256()
                     : algorithm == "sha384" ? EVP_sha384()
                     : algorithm == "sha512" ? EVP_sha512()
                                             : nullptr;
  if (md == nullptr) {
    return fail(Code::kInvalidArgument, "initdata: algorithm " + log::quote(algorithm) +
                                            " is not supported (sha256, sha384 or sha512)");
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out, &len, md, nullptr) != 1) {
    return fail(Code::kInternal, "initdata: computing the digest failed");
  }
  return encoding::hexEncode(std::string_view(reinterpret_cast<const char*>(out), len));
}

Result<Initdata> parseInitdataToml(std::string_view text) {
  auto doc = cloudinit::parseInitdataToml(text);
  if (!doc) return fail(doc.error());
  for (const auto& key : doc->unknownKeys)
    log::warn(kLog, "initdata: ignoring unknown key {}", log::quote(key));
  Initdata out;
  out.algorithm = std::move(doc->algorithm);
  out.version = std::move(doc->version);
  out.data = std::move(doc->data);
  auto digest = initdataDigest(out.algorithm, text);
  if (!digest) return fail(digest.error());
  out.digestHex = std::move(*digest);
  return out;
}

Result<Initdata> decodeInitdataFile(std::string_view fileContent) {
  std::string compact;
  compact.reserve(fileContent.size());
  for (char c : fileContent) {
    if (c != '\n' && c != '\r') compact += c;
  }
  if (compact.empty()) return fail(Code::kInvalidArgument, "initdata is empty");
  auto toml = cloudinit::decodeInitdata(compact);
  if (!toml) return fail(toml.error());
  return parseInitdataToml(*toml);
}

Status extractInitdata(const FileWriter& writer) {
  Initdata initdata;
  bool isDefault = false;
  if (writer.exists(kInitdataPath)) {
    auto content = writer.read(kInitdataPath, kMaxInitdataFile);
    if (!content) return fail(content.error().wrap("reading initdata"));
    auto parsed = decodeInitdataFile(*content);
    if (!parsed) return fail(parsed.error().wrap(std::string(kInitdataPath)));
    initdata = std::move(*parsed);
    log::info(kLog, "initdata: {} version {}, {} data entries", initdata.algorithm,
              log::quote(initdata.version), initdata.data.size());
  } else {
    auto parsed = parseInitdataToml(kDefaultInitdataToml);
    if (!parsed) return fail(parsed.error());
    initdata = std::move(*parsed);
    isDefault = true;
    log::info(kLog, "no {}: using the default initdata (empty aa.toml)", kInitdataPath);
  }
  for (const auto& [key, value] : initdata.data) {
    if (!FileWriter::isAllowed(key, kInitdataFiles)) {
      log::error(
          kLog,
          "initdata: refusing data entry {}: only aa.toml, cdh.toml and policy.rego are written",
          log::quote(key));
    }
  }
  // Each attestation file is exactly initdata's entry: written when there is one, removed when
  // not (whatever put it there: an image, cloud-init, an earlier boot).
  for (std::string_view key : kInitdataFiles) {
    const std::string path = std::string(kPeerpodDir) + "/" + std::string(key);
    auto entry = std::find_if(initdata.data.begin(), initdata.data.end(),
                              [&](const auto& kv) { return kv.first == key; });
    if (entry == initdata.data.end()) {
      if (!writer.exists(path)) continue;
      if (auto st = writer.remove(path); !st) return fail(st.error().wrap("removing " + path));
      log::warn(kLog, "removed {}: initdata has no {} entry", path, key);
      continue;
    }
    if (auto st = writer.write(path, entry->second); !st)
      return fail(st.error().wrap("writing " + path));
    log::info(kLog, "wrote {} ({} bytes, from {}initdata)", path, entry->second.size(),
              isDefault ? "the default " : "");
  }
  if (auto st = writer.write(kDigestPath, initdata.digestHex); !st) {
    return fail(st.error().wrap(std::string("writing ") + kDigestPath));
  }
  log::info(kLog, "wrote {} ({} {})", kDigestPath, initdata.algorithm, initdata.digestHex);
  return {};
}

}  // namespace pp::userdata
