// Kubernetes watch streams (the adaptor's and peerpod-ctrl's informers): one JSON event per
// line from the API server, as Client::watch decodes each line (k8s::parseWatchLine). The input
// is a stream; it is cut at newlines as the client cuts it.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an event that decodes has a type other than ERROR and an object with an object "metadata";
// - every error names what was watched.
#include <string>

#include "fuzz_check.h"
#include "k8s/client.h"

using pp::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view stream = pp::fuzz::text(data, size);
  while (true) {
    const size_t nl = stream.find('\n');
    const std::string_view line = stream.substr(0, nl);
    auto event = pp::k8s::parseWatchLine(line, "watch pods");
    if (event) {
      if (*event) {
        const auto& e = **event;
        check(e.type != "ERROR");
        check(e.object.is_object() && e.object.contains("metadata") &&
              e.object["metadata"].is_object());
        (void)pp::k8s::field(e.object, "metadata", "resourceVersion");
      }
    } else {
      check(event.error().message.find("watch pods") != std::string::npos);
    }
    if (nl == std::string_view::npos) break;
    stream.remove_prefix(nl + 1);
  }
  return 0;
}
