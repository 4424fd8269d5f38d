#include "podnetwork/primary_interface.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <limits>

namespace pp::podnetwork {
namespace {

// "ens10" -> ("ens", 10); a name without a number sorts after every numbered one.
std::pair<std::string, uint64_t> splitNumber(const std::string& name) {
  size_t digits = 0;
  while (digits < name.size() && !std::isdigit(static_cast<unsigned char>(name[digits]))) ++digits;
  uint64_t number = std::numeric_limits<uint64_t>::max();
  if (digits < name.size()) {
    auto [ptr, ec] = std::from_chars(name.data() + digits, name.data() + name.size(), number);
    if (ec != std::errc() || ptr != name.data() + name.size()) {
      number = std::numeric_limits<uint64_t>::max();
    }
  }
  return {name.substr(0, digits), number};
}

}  // namespace

Result<PrimaryInterface> findPrimaryInterface(netlink::RouteSocket& socket) {
  auto routes = socket.routes();
  if (!routes) return fail(routes.error());
  const netlink::RouteEntry* best = nullptr;
  for (const netlink::RouteEntry& entry : *routes) {
    if (entry.route.dst || entry.route.dev.empty()) continue;  // not a default route
    if (!best || entry.priority < best->priority) {
      best = &entry;
      continue;
    }
    if (entry.priority == best->priority) {
      auto [prefix, number] = splitNumber(entry.route.dev);
      auto [bestPrefix, bestNumber] = splitNumber(best->route.dev);
      if (prefix == bestPrefix && number < bestNumber) best = &entry;
    }
  }
  if (!best) {
    return fail(Code::kNotFound, fmt::format("no default route in netns {} to identify its "
                                             "primary interface",
                                             socket.netnsPath()));
  }
  return PrimaryInterface{best->route.dev, best->route.gw};
}

}  // namespace pp::podnetwork
