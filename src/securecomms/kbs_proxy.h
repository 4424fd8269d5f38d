// The worker node's end of a pod VM's KBS tunnel in Trustee mode (upstream's reverse proxy in
// wnssh): forwards HTTP to the key broker, rewriting the generic resource path the pod VM asks
// for, .../pp-sid/privateKey, to the sandbox's own, .../pp-<id>/privateKey, so that each VM can
// only fetch its own key by that name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"

namespace pp::securecomms {

class KbsRewriteProxy {
 public:
  // Listens on 127.0.0.1 (ephemeral port) and forwards to `kbsHost`:`kbsPort`.
  static Result<std::unique_ptr<KbsRewriteProxy>> start(std::string sandboxId, std::string kbsHost,
                                                        uint16_t kbsPort);
  virtual ~KbsRewriteProxy() = default;
  virtual uint16_t port() const = 0;
  virtual void stop() = 0;
};

// The request head with the path rewritten and "Connection: close" set (one request per
// connection, so that no later request on it escapes the rewrite). INVALID_ARGUMENT for a head
// that is not an HTTP/1.x request.
Result<std::string> rewriteKbsRequestHead(const std::string& head, const std::string& sandboxId);

}  // namespace pp::securecomms
