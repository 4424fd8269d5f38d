// systemd's notify protocol: a datagram to $NOTIFY_SOCKET ("READY=1", "STOPPING=1").
// Without NOTIFY_SOCKET it does nothing, as sd_notify(3).
#pragma once

#include <string_view>

namespace pp {

// Returns true if a notification was sent.
bool sdNotify(std::string_view state);

}  // namespace pp
