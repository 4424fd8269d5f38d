// libssh key handles for the implementation (not part of the module's interface).
#pragma once

#include <libssh/libssh.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::securecomms {

struct SshKeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using SshKeyPtr = std::unique_ptr<std::remove_pointer_t<ssh_key>, SshKeyFree>;

Result<SshKeyPtr> importPrivateKey(std::string_view pem);
Result<SshKeyPtr> importPublicKey(std::string_view line);
Result<std::string> publicLineOf(ssh_key key);

}  // namespace pp::securecomms
