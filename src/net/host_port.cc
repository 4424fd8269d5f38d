#include "net/host_port.h"

#include <charconv>

namespace pp::net {

Result<std::pair<std::string, uint16_t>> parseHostPort(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(Code::kInvalidArgument,
                "listen address \"" + std::string(text) + "\" has no port (want host:port)");
  }
  std::string_view host = text.substr(0, colon);
  std::string_view portText = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (portText.empty() || ec != std::errc() || end != portText.data() + portText.size() ||
      port > 65535) {
    return fail(Code::kInvalidArgument,
                "listen address \"" + std::string(text) + "\" has a bad port");
  }
  return std::pair{host.empty() ? std::string("0.0.0.0") : std::string(host),
                   static_cast<uint16_t>(port)};
}

}  // namespace pp::net
