// Address parsing and printing. Parsers accept exactly the canonical text forms, because these
// values come from apf.json written by another program and a lenient parse hides its bugs.
#include "podnetwork/address.h"

#include <fmt/format.h>

#include <charconv>

namespace pp::podnetwork {
namespace {

// A decimal number without sign or leading zeros ("0" itself is fine), at most maxValue.
bool parseDecimal(std::string_view text, uint32_t maxValue, uint32_t* out) {
  if (text.empty() || text.size() > 10) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value > maxValue) return false;
  *out = value;
  return true;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint32_t maskFor(int length) {
  return length == 0 ? 0 : ~uint32_t{0} << (32 - length);
}

}  // namespace

Result<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  uint32_t value = 0;
  std::string_view rest = text;
  for (int i = 0; i < 4; ++i) {
    size_t dot = rest.find('.');
    std::string_view part = i < 3 ? rest.substr(0, dot) : rest;
    if ((i < 3 && dot == std::string_view::npos) || (i == 3 && dot != std::string_view::npos)) {
      return fail(Code::kInvalidArgument, fmt::format("\"{}\" is not an IPv4 address", text));
    }
    uint32_t octet = 0;
    if (!parseDecimal(part, 255, &octet)) {
      return fail(Code::kInvalidArgument, fmt::format("\"{}\" is not an IPv4 address", text));
    }
    value = (value << 8) | octet;
    if (i < 3) rest.remove_prefix(dot + 1);
  }
  return Ipv4Address{value};
}

std::string Ipv4Address::toString() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                     value & 0xff);
}

Result<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return fail(Code::kInvalidArgument,
                fmt::format("\"{}\" is not an IPv4 prefix (missing /length)", text));
  }
  auto address = Ipv4Address::parse(text.substr(0, slash));
  uint32_t length = 0;
  if (!address || !parseDecimal(text.substr(slash + 1), 32, &length)) {
    return fail(Code::kInvalidArgument, fmt::format("\"{}\" is not an IPv4 prefix", text));
  }
  return Ipv4Prefix{*address, static_cast<int>(length)};
}

std::string Ipv4Prefix::toString() const {
  return fmt::format("{}/{}", address.toString(), length);
}

Ipv4Prefix Ipv4Prefix::masked() const {
  return Ipv4Prefix{Ipv4Address{address.value & maskFor(length)}, length};
}

bool Ipv4Prefix::contains(Ipv4Address other) const {
  return (other.value & maskFor(length)) == (address.value & maskFor(length));
}

Result<MacAddress> MacAddress::parse(std::string_view text) {
  MacAddress mac;
  if (text.size() != 17) {
    return fail(Code::kInvalidArgument, fmt::format("\"{}\" is not a MAC address", text));
  }
  for (size_t i = 0; i < 6; ++i) {
    int hi = hexDigit(text[i * 3]);
    int lo = hexDigit(text[i * 3 + 1]);
    bool separatorOk = i == 5 || text[i * 3 + 2] == ':';
    if (hi < 0 || lo < 0 || !separatorOk) {
      return fail(Code::kInvalidArgument, fmt::format("\"{}\" is not a MAC address", text));
    }
    mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

std::string MacAddress::toString() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                     bytes[3], bytes[4], bytes[5]);
}

}  // namespace pp::podnetwork
