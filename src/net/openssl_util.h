// Internal helpers of pp_tls: owning pointers for OpenSSL objects, PEM parsing that never
// prompts for a passphrase, and OpenSSL's error queue as text.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pp::net::ossl {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;

// Drains OpenSSL's error queue of this thread into one line ("" when it is empty). Called after
// every failure so that a stale error never shows up in a later message.
std::string takeErrors();

// Every certificate in `pem` (empty when there is none or the text is not PEM).
std::vector<CertPtr> parseCertificates(std::string_view pem);
CertPtr parseCertificate(std::string_view pem);
// An unencrypted private key (encrypted keys fail instead of prompting on the terminal).
KeyPtr parsePrivateKey(std::string_view pem);

std::string certificateToPem(X509* cert);
std::string privateKeyToPem(EVP_PKEY* key);

}  // namespace pp::net::ossl
