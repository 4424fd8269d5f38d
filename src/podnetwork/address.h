// IPv4 and MAC addresses as the pod network config carries them. IPv4 only: upstream reads and
// moves IPv4 addresses only.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::podnetwork {

struct Ipv4Address {
  uint32_t value = 0;  // host byte order

  // Dotted quad, nothing else ("10.0.0.1"; no leading zeros, no prefix length).
  static Result<Ipv4Address> parse(std::string_view text);
  std::string toString() const;
  auto operator<=>(const Ipv4Address&) const = default;
};

struct Ipv4Prefix {
  Ipv4Address address;  // not necessarily masked: "10.244.1.5/24" names an interface address
  int length = 32;

  // "a.b.c.d/n" with 0 <= n <= 32.
  static Result<Ipv4Prefix> parse(std::string_view text);
  std::string toString() const;
  Ipv4Prefix masked() const;
  bool contains(Ipv4Address other) const;
  auto operator<=>(const Ipv4Prefix&) const = default;
};

struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  // Six colon-separated hex pairs, either case ("0a:58:0a:f4:01:05").
  static Result<MacAddress> parse(std::string_view text);
  std::string toString() const;  // lowercase, as Go's net.HardwareAddr prints it
  auto operator<=>(const MacAddress&) const = default;
};

}  // namespace pp::podnetwork
