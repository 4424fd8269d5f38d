// "host:port", "[v6]:port" or ":port" (every address: host "0.0.0.0"), as Go's net.Listen
// takes them: the forwarder's -listen and the -metrics-listen of the adaptor and forwarder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/error.h"

namespace pp::net {

Result<std::pair<std::string, uint16_t>> parseHostPort(std::string_view text);

}  // namespace pp::net
