#include "securecomms/kbs_client.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace pp::securecomms {
namespace {

std::string b64url(std::string_view data) {
  std::string s = encoding::base64UrlEncode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

Result<std::string> makeKbsAdminToken(std::string_view privatePem,
                                      std::chrono::system_clock::time_point now) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(privatePem.data(), static_cast<int>(privatePem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>("")) : nullptr,
      EVP_PKEY_free);
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return fail(Code::kInvalidArgument, "kbs-client key: not an Ed25519 private key in PEM");
  }
  int64_t iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  int64_t exp = iat + 24 * 3600;
  nlohmann::json header = {{"alg", "EdDSA"}, {"typ", "JWT"}};
  nlohmann::json claims = {{"issued_at", iat}, {"expires_at", exp}, {"invalid_before", iat},
                           {"audiences", ""},  {"issuer", ""},      {"jwt_id", ""},
                           {"subject", ""},    {"nonce", ""},       {"custom", ""},
                           {"iat", iat},       {"nbf", iat},        {"exp", exp}};
  std::string signingInput = b64url(header.dump()) + "." + b64url(claims.dump());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char sig[64];
  size_t sigLen = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sigLen,
                     reinterpret_cast<const unsigned char*>(signingInput.data()),
                     signingInput.size()) != 1) {
    return fail(Code::kInternal, "kbs-client key: signing the token failed");
  }
  return signingInput + "." + b64url(std::string_view(reinterpret_cast<const char*>(sig), sigLen));
}

Status KbsAdminClient::postResource(const std::string& path, const std::string& data) const {
  auto token = makeKbsAdminToken(privatePem_, std::chrono::system_clock::now());
  if (!token) return fail(token.error());
  net::HttpRequest req;
  req.method = "POST";
  req.url = "http://" + address_ + "/kbs/v0/resource/" + path;
  req.headers = {{"Authorization", "Bearer " + *token},
                 {"Accept", "application/octet-stream"},
                 {"Content-Type", "application/octet-stream"}};
  req.body = data;
  req.timeout = std::chrono::seconds(30);
  req.maxResponseBytes = 64 * 1024;
  auto resp = http_.send(req);
  if (!resp) return fail(resp.error().wrap("key broker: POST resource " + path));
  if (resp->status != 200) {
    return fail(Code::kUnavailable,
                "key broker: POST resource " + path + ": HTTP " + std::to_string(resp->status));
  }
  return {};
}

}  // namespace pp::securecomms
