// A throwaway SSH public key for the pod VM's admin user: Azure Linux VMs need a key (or a
// password) even though nobody logs in; upstream generates an RSA key when none is configured.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

#include "base/encoding.h"
#include "providers/azure/azure_provider.h"

namespace pp::providers::azure {
namespace {

void putString(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(s);
}

std::string mpint(const BIGNUM* bn) {
  std::string b(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(b.data()));
  if (!b.empty() && (static_cast<unsigned char>(b[0]) & 0x80)) b.insert(b.begin(), '\0');
  return b;
}

}  // namespace

Result<std::string> generateSshPublicKey(int bits) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_RSA_gen(static_cast<unsigned int>(bits)), EVP_PKEY_free);
  if (!key) return fail(Code::kInternal, "generating an RSA key failed");
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    return fail(Code::kInternal, "reading the generated RSA key failed");
  }
  std::string blob;
  putString(blob, "ssh-rsa");
  putString(blob, mpint(e));
  putString(blob, mpint(n));
  BN_free(n);
  BN_free(e);
  return "ssh-rsa " + encoding::base64Encode(blob);
}

}  // namespace pp::providers::azure
