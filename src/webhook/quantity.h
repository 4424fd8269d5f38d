// Kubernetes resource quantities ("500m", "1.5", "4Gi", "1e3"), as apimachinery's
// resource.Quantity parses, adds, compares, rounds and prints them. The webhook sums the cpu,
// memory and GPU quantities of a pod and turns them into annotation values, and must get the
// same numbers as upstream (ceil of cpu, memory rounded up to MiB, canonical GPU text).
//
// Values are held exactly in nano-units (1e-9) in a 128-bit integer; like Go, parsing rounds
// anything finer than 1n up (away from zero). Magnitudes above 1e27 are refused rather than
// approximated: no real resource comes near that, so such a value is malformed input.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::webhook {

class Quantity {
 public:
  // How the canonical text is written, as apimachinery's Format.
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  Quantity() = default;
  explicit Quantity(Format format) : format_(format) {}

  // Parses Kubernetes quantity syntax: [+-]digits[.digits] followed by nothing, a decimal SI
  // suffix (n u m k M G T P E), a binary one (Ki Mi Gi Ti Pi Ei) or an exponent (e3, E-2).
  // INVALID_ARGUMENT with the offending text otherwise.
  static Result<Quantity> parse(std::string_view text);
  // A whole number of units, for tests and defaults.
  static Quantity fromInt(long long units, Format format = Format::kDecimalSI);

  // Adds `other`; a zero sum takes the other quantity's format first, as apimachinery does.
  // OUT_OF_RANGE when the sum leaves the supported range.
  Status add(const Quantity& other);

  bool isZero() const { return nanos_ == 0; }
  int sign() const { return nanos_ > 0 ? 1 : (nanos_ < 0 ? -1 : 0); }
  // <0, 0, >0 as this is smaller than, equal to, larger than `other`.
  int compare(const Quantity& other) const;
  // The value rounded up (away from zero) to a whole unit: Quantity.Value().
  __int128 ceilUnits() const;
  // Whole MiB, rounded up, of a byte quantity (cloud-provider's RoundUpToMiB).
  __int128 ceilMiB() const;
  Format format() const { return format_; }

  // The canonical text (Quantity.String()): "0", "500m", "2", "1500", "3k", "2Ki", "1e3".
  std::string toString() const;

 private:
  __int128 nanos_ = 0;
  Format format_ = Format::kDecimalSI;
};

// Decimal text of a 128-bit integer.
std::string int128ToString(__int128 value);

}  // namespace pp::webhook
