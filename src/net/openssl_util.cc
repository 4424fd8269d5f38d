#include "net/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace pp::net::ossl {
namespace {

BioPtr readOnlyBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Passphrase callback that refuses: without it OpenSSL would ask on the terminal.
int noPassphrase(char*, int, int, void*) {
  return -1;
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

}  // namespace

std::string takeErrors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::vector<CertPtr> parseCertificates(std::string_view pem) {
  std::vector<CertPtr> certs;
  if (pem.size() > static_cast<size_t>(INT32_MAX)) return certs;
  BioPtr bio = readOnlyBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, &noPassphrase, nullptr)) {
    certs.emplace_back(cert);
  }
  // The loop always ends with a "no start line" error; it is not news.
  takeErrors();
  return certs;
}

CertPtr parseCertificate(std::string_view pem) {
  std::vector<CertPtr> certs = parseCertificates(pem);
  return certs.empty() ? CertPtr() : std::move(certs.front());
}

KeyPtr parsePrivateKey(std::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT32_MAX)) return KeyPtr();
  BioPtr bio = readOnlyBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, &noPassphrase, nullptr));
  if (!key) takeErrors();
  return key;
}

std::string certificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  return bioText(bio.get());
}

std::string privateKeyToPem(EVP_PKEY* key) {
  // The secure-memory BIO clears the key text when it is freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return bioText(bio.get());
}

}  // namespace pp::net::ossl
