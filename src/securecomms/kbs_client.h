// The key broker's admin API as the adaptor uses it in Trustee mode (upstream's wnssh
// KbsClient): POST /kbs/v0/resource/<path> with the key as the body, authorised by an EdDSA
// (Ed25519) JWT signed with the private key of the `kbs-client` secret, valid 24 h.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/error.h"
#include "net/http_client.h"

namespace pp::securecomms {

// header.payload.signature (base64url without padding); header {"alg":"EdDSA","typ":"JWT"}.
// Claims: upstream's (issued_at, expires_at = +24 h, invalid_before, empty audiences, issuer,
// jwt_id, subject, nonce, custom) and the registered iat, nbf, exp with the same times.
// INVALID_ARGUMENT when `privatePem` is not an Ed25519 private key.
Result<std::string> makeKbsAdminToken(std::string_view privatePem,
                                      std::chrono::system_clock::time_point now);

class KbsAdminClient {
 public:
  // `address` host:port (http, as upstream).
  KbsAdminClient(std::string address, std::string privatePem, net::HttpClient http = {})
      : address_(std::move(address)), privatePem_(std::move(privatePem)), http_(std::move(http)) {}
  // A non-200 answer is an error naming the status (the body is not logged: it may echo data).
  Status postResource(const std::string& path, const std::string& data) const;

 private:
  std::string address_;
  std::string privatePem_;
  net::HttpClient http_;
};

}  // namespace pp::securecomms
