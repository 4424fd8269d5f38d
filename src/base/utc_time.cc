#include "base/utc_time.h"

#include <ctime>

namespace pp::utc {

std::string format(TimePoint t, const char* strftimeFormat) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, strftimeFormat, &tm);
  return std::string(buf, n);
}

namespace {

// Exactly `len` decimal digits at `pos`; -1 otherwise.
int digits(std::string_view s, size_t pos, size_t len) {
  if (pos + len > s.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

bool isLeap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int daysIn(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : kDays[m - 1];
}

}  // namespace

std::optional<TimePoint> parseRfc3339(std::string_view s, Rfc3339Form form) {
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  int h = digits(s, 11, 2), mi = digits(s, 14, 2), sec = digits(s, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
      sec > 60 || d > daysIn(y, mo))
    return std::nullopt;
  size_t pos = 19;
  if (s[pos] == '.') {
    if (!form.fraction) return std::nullopt;
    size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  long offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    if (!form.offset || pos + 6 != s.size() || s[pos + 3] != ':') return std::nullopt;
    int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return std::nullopt;
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  // system_clock counts nanoseconds in 64 bits (years 1677 to 2262): from_time_t of a time
  // outside that, such as an STS Expiration "4052-12-02T13:00:00Z", overflows (undefined
  // behaviour; found by fuzz_alibaba_json). Such a time is refused.
  constexpr long long kMaxSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::duration::max()).count();
  const long long t = static_cast<long long>(timegm(&tm)) - offset;
  if (t >= kMaxSeconds || t <= -kMaxSeconds) return std::nullopt;
  return std::chrono::system_clock::from_time_t(static_cast<std::time_t>(t));
}

}  // namespace pp::utc
