// UTC timestamps as the APIs we talk to write them: RFC 3339 (`2026-12-02T07:00:05Z`, with an
// optional fraction or offset) and strftime's compact forms (SigV4's `20261202T070005Z`). One
// strict parser instead of one per provider. Precision is whole seconds: fractions are read and
// dropped, as every caller (token expiries, Kubernetes metav1.Time) does.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pp::utc {

using TimePoint = std::chrono::system_clock::time_point;

// `t` in UTC through a strftime format; the default is RFC 3339 in seconds with "Z".
std::string format(TimePoint t, const char* strftimeFormat = "%Y-%m-%dT%H:%M:%SZ");

struct Rfc3339Form {
  bool fraction = true;  // ".123" after the seconds (at least one digit)
  bool offset = true;    // "+01:00" / "-05:30" instead of "Z"
};

// YYYY-MM-DDTHH:MM:SS[.digits](Z|z|±HH:MM), every field in range (a leap second 60 is taken as
// the next second); nullopt for anything else, including what `form` leaves out.
std::optional<TimePoint> parseRfc3339(std::string_view text, Rfc3339Form form = {});

}  // namespace pp::utc
