// Key pairs: generated with OpenSSL (PKCS#1 PEM, as upstream stores them), read with libssh.
#include <libssh/libssh.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>

#include "securecomms/keys_internal.h"
#include "securecomms/securecomms.h"

namespace pp::securecomms {

Result<SshKeyPtr> importPrivateKey(std::string_view pem) {
  if (pem.empty() || pem.size() > 64 * 1024) {
    return fail(Code::kInvalidArgument, "SSH private key: empty or larger than 64 KiB");
  }
  std::string text(pem);
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK ||
      key == nullptr) {
    return fail(Code::kInvalidArgument, "SSH private key: not a PEM or OpenSSH private key");
  }
  return SshKeyPtr(key);
}

Result<SshKeyPtr> importPublicKey(std::string_view line) {
  auto normal = normalizePublicKey(line);
  if (!normal) return fail(normal.error());
  size_t space = normal->find(' ');
  std::string type = normal->substr(0, space);
  std::string blob = normal->substr(space + 1);
  ssh_key key = nullptr;
  if (ssh_pki_import_pubkey_base64(blob.c_str(), ssh_key_type_from_name(type.c_str()), &key) !=
          SSH_OK ||
      key == nullptr) {
    return fail(Code::kInvalidArgument, "SSH public key: the key data does not decode as " + type);
  }
  return SshKeyPtr(key);
}

Result<std::string> publicLineOf(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || b64 == nullptr) {
    return fail(Code::kInternal, "SSH key: cannot export the public key");
  }
  std::string line = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + b64;
  ssh_string_free_char(b64);
  return line;
}

Result<std::string> normalizePublicKey(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (line.empty() || line.size() > 16 * 1024) {
    return fail(Code::kInvalidArgument, "SSH public key: empty or larger than 16 KiB");
  }
  size_t space = line.find(' ');
  if (space == std::string_view::npos || space == 0) {
    return fail(Code::kInvalidArgument,
                "SSH public key: want an authorized_keys line 'type base64'");
  }
  std::string_view type = line.substr(0, space);
  std::string_view rest = line.substr(space + 1);
  size_t end = rest.find(' ');
  std::string_view blob = rest.substr(0, end);
  if (blob.empty()) return fail(Code::kInvalidArgument, "SSH public key: no key data");
  for (char c : blob) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return fail(Code::kInvalidArgument, "SSH public key: key data is not base64");
  }
  if (ssh_key_type_from_name(std::string(type).c_str()) == SSH_KEYTYPE_UNKNOWN) {
    return fail(Code::kInvalidArgument,
                "SSH public key: unknown key type '" + std::string(type) + "'");
  }
  return std::string(type) + " " + std::string(blob);
}

Result<std::string> publicKeyOf(std::string_view privatePem) {
  auto key = importPrivateKey(privatePem);
  if (!key) return fail(key.error());
  return publicLineOf(key->get());
}

Result<KeyPair> generateRsaKeyPair(int bits) {
  if (bits < 2048 || bits > 8192) {
    return fail(Code::kInvalidArgument, "RSA key size must be 2048-8192 bits");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(EVP_RSA_gen(static_cast<unsigned>(bits)),
                                                           EVP_PKEY_free);
  if (!pkey) return fail(Code::kInternal, "RSA key generation failed");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PrivateKey_traditional(bio.get(), pkey.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr) != 1) {
    return fail(Code::kInternal, "RSA key: PEM encoding failed");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  KeyPair pair;
  pair.privatePem.assign(data, static_cast<size_t>(len));
  auto pub = publicKeyOf(pair.privatePem);
  if (!pub) return fail(pub.error());
  pair.publicKey = *pub;
  return pair;
}

}  // namespace pp::securecomms
