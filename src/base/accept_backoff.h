// What an accept loop does after a failed accept. Out of descriptors (EMFILE, ENFILE) or kernel
// memory (ENOBUFS, ENOMEM), accept fails again at once until something is closed: retrying
// immediately spins a core and floods the log, so it waits, from 10 ms doubling up to 1 s,
// until an accept succeeds, and logs at most one line a second. Used by the ttrpc listeners
// and the HTTP server.
#pragma once

#include <algorithm>
#include <chrono>
#include <string_view>
#include <system_error>

#include "base/log.h"

namespace pp {

class AcceptBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  // Logs the error (rate-limited) and returns how long to wait before the next accept.
  Clock::duration onError(const std::error_code& ec, std::string_view component,
                          std::string_view where) {
    using namespace std::chrono_literals;
    log_.warn(component, "accept on {}: {}", where, ec.message());
    // The peer reset a connection still in the backlog: nothing to wait for.
    if (ec == std::errc::connection_aborted) return Clock::duration::zero();
    backoff_ = std::clamp<Clock::duration>(2 * backoff_, 10ms, 1s);
    return backoff_;
  }
  void onSuccess() { backoff_ = Clock::duration::zero(); }

 private:
  Clock::duration backoff_ = Clock::duration::zero();
  log::RateLimitedWarning log_;
};

}  // namespace pp
