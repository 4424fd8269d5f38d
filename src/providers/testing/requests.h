// A CreateRequest as the adaptor makes it, for the providers' request-building tests.
#pragma once

#include <string>

#include "providers/provider.h"

namespace pp::providers::testing {

// Pod "nginx" in "default", instance podvm-nginx-<first 8 of the sandbox id>, and user data
// with an (empty) apf.json.
inline CreateRequest nginxRequest(const std::string& sandbox = "0123456789abcdef") {
  CreateRequest r;
  r.podName = "nginx";
  r.podNamespace = "default";
  r.sandboxId = sandbox;
  r.instanceName = "podvm-nginx-" + sandbox.substr(0, 8);
  r.userData =
      "#cloud-config\nwrite_files:\n- path: /run/peerpod/apf.json\n  content: |\n      {}\n";
  return r;
}

}  // namespace pp::providers::testing
