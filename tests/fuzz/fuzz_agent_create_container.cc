// The agent's CreateContainerRequest (and CreateSandboxRequest) as the two hops edit them: the
// adaptor's proxy receives it from the shim (adaptor::editCreateContainer), the pod VM's
// forwarder from the adaptor (forwarder::editCreateContainer / editCreateSandbox). In
// confidential mode the forwarder's side is untrusted input. Also the forwarder's mountinfo
// reader, which sees the same paths.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an edit that succeeds returns a payload that parses again, and editing that payload again
//   succeeds with a payload of the same size (the edits are idempotent; protobuf may write a
//   map's entries in another order, so the bytes themselves are not compared);
// - the forwarder edit keeps the container id and only asks to create absolute paths.
#include <string>

#include "adaptor/container_edit.h"
#include "forwarder/forwarder.h"
#include "fuzz_check.h"

using pp::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (4u << 20)) return 0;  // a ttrpc body is at most 4 MiB
  const std::string_view payload = pp::fuzz::text(data, size);

  // No such directory: the adaptor edit never finds a direct volume, so it touches no file.
  if (auto once = pp::adaptor::editCreateContainer(payload, "/nonexistent/direct-volumes")) {
    auto twice = pp::adaptor::editCreateContainer(*once, "/nonexistent/direct-volumes");
    check(twice.has_value() && twice->size() == once->size());
  }

  const std::string podNs = "/run/netns/podns";
  if (auto edit = pp::forwarder::editCreateContainer(payload, podNs)) {
    for (const auto& p : edit->bindSources) check(!p.empty() && p[0] == '/');
    auto again = pp::forwarder::editCreateContainer(edit->payload, podNs);
    check(again.has_value() && again->payload.size() == edit->payload.size());
    check(again->containerId == edit->containerId);
  }

  if (auto sandbox = pp::forwarder::editCreateSandbox(payload)) {
    auto again = pp::forwarder::editCreateSandbox(*sandbox);
    check(again.has_value() && again->size() == sandbox->size());
  }

  for (const auto& mountPoint : pp::forwarder::parseMountPoints(payload)) (void)mountPoint;
  return 0;
}
