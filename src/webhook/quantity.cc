// Kubernetes quantities: parsing, exact sums in nano-units and apimachinery's canonical text.
#include "webhook/quantity.h"

#include <fmt/format.h>

#include <array>
#include <cctype>

namespace pp::webhook {
namespace {

constexpr __int128 kNano = 1'000'000'000;
constexpr size_t kMaxText = 64;
constexpr int kMaxSignificantDigits = 36;

constexpr __int128 pow10(int n) {
  __int128 v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

// 1e27 units: far above any real resource, far below the 128-bit limit even after summing.
constexpr __int128 kLimitNanos = pow10(36);

Result<Quantity> invalid(std::string_view text, std::string_view why) {
  return fail(Code::kInvalidArgument, fmt::format("quantity \"{}\" is invalid: {}", text, why));
}

struct Suffix {
  Quantity::Format format;
  int exp10 = 0;  // decimal exponent
  int exp2 = 0;   // binary exponent
};

// Interprets what follows the number; nullopt-like `ok=false` when it is not a suffix.
bool interpretSuffix(std::string_view s, Suffix* out) {
  using F = Quantity::Format;
  if (s.empty()) {
    *out = {F::kDecimalSI, 0, 0};
    return true;
  }
  static constexpr std::array<std::pair<std::string_view, int>, 9> kDecimal{{{"n", -9},
                                                                             {"u", -6},
                                                                             {"m", -3},
                                                                             {"k", 3},
                                                                             {"M", 6},
                                                                             {"G", 9},
                                                                             {"T", 12},
                                                                             {"P", 15},
                                                                             {"E", 18}}};
  for (const auto& [name, exp] : kDecimal) {
    if (s == name) {
      *out = {F::kDecimalSI, exp, 0};
      return true;
    }
  }
  static constexpr std::array<std::pair<std::string_view, int>, 6> kBinary{
      {{"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}}};
  for (const auto& [name, exp] : kBinary) {
    if (s == name) {
      *out = {F::kBinarySI, 0, exp};
      return true;
    }
  }
  if (s[0] == 'e' || s[0] == 'E') {
    std::string_view e = s.substr(1);
    bool negative = false;
    if (!e.empty() && (e[0] == '+' || e[0] == '-')) {
      negative = e[0] == '-';
      e.remove_prefix(1);
    }
    if (e.empty() || e.size() > 3) return false;
    int exp = 0;
    for (char c : e) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      exp = exp * 10 + (c - '0');
    }
    *out = {F::kDecimalExponent, negative ? -exp : exp, 0};
    return true;
  }
  return false;
}

}  // namespace

std::string int128ToString(__int128 value) {
  if (value == 0) return "0";
  bool negative = value < 0;
  unsigned __int128 v = negative ? -static_cast<unsigned __int128>(value) : value;
  std::string digits;
  while (v > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return negative ? "-" + digits : digits;
}

Result<Quantity> Quantity::parse(std::string_view text) {
  if (text.empty()) return invalid(text, "empty");
  if (text.size() > kMaxText) return invalid(text.substr(0, kMaxText), "longer than 64 characters");
  size_t pos = 0;
  bool negative = false;
  if (text[pos] == '+' || text[pos] == '-') negative = text[pos++] == '-';
  std::string digits;  // integer and fraction digits, without the point
  int fractionDigits = 0;
  bool seenPoint = false;
  size_t digitCount = 0;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits.push_back(c);
      ++digitCount;
      if (seenPoint) ++fractionDigits;
    } else if (c == '.' && !seenPoint) {
      seenPoint = true;
    } else {
      break;
    }
  }
  if (digitCount == 0) return invalid(text, "expected a number");
  Suffix suffix;
  if (!interpretSuffix(text.substr(pos), &suffix)) {
    return invalid(text, fmt::format("unknown suffix \"{}\"", text.substr(pos)));
  }
  // Trailing fraction zeros and leading zeros do not change the value.
  while (fractionDigits > 0 && digits.back() == '0') {
    digits.pop_back();
    --fractionDigits;
  }
  size_t first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? std::string() : digits.substr(first);
  if (digits.size() > static_cast<size_t>(kMaxSignificantDigits))
    return invalid(text, "too many digits");

  Quantity q(suffix.format);
  if (digits.empty()) return q;  // zero, in the suffix's format
  __int128 v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  // Binary multiplier first (exact), then the power of ten that brings the value to nanos.
  if (suffix.exp2 > 0 && __builtin_mul_overflow(v, static_cast<__int128>(1) << suffix.exp2, &v)) {
    return invalid(text, "out of range");
  }
  int scale = suffix.exp10 - fractionDigits + 9;
  if (scale > 0) {
    if (scale > 38 || __builtin_mul_overflow(v, pow10(scale), &v))
      return invalid(text, "out of range");
  } else if (scale < 0) {
    // Finer than a nano-unit: round up (away from zero), as apimachinery does.
    if (-scale > 38) {
      v = 1;
    } else {
      __int128 d = pow10(-scale);
      v = v / d + (v % d != 0 ? 1 : 0);
    }
  }
  if (v > kLimitNanos) return invalid(text, "out of range");
  q.nanos_ = negative ? -v : v;
  return q;
}

Quantity Quantity::fromInt(long long units, Format format) {
  Quantity q(format);
  q.nanos_ = static_cast<__int128>(units) * kNano;
  return q;
}

Status Quantity::add(const Quantity& other) {
  if (nanos_ == 0) format_ = other.format_;
  __int128 sum = 0;
  if (__builtin_add_overflow(nanos_, other.nanos_, &sum) || sum > kLimitNanos ||
      sum < -kLimitNanos) {
    return fail(Code::kOutOfRange, "sum of quantities is out of range");
  }
  nanos_ = sum;
  return {};
}

int Quantity::compare(const Quantity& other) const {
  return nanos_ < other.nanos_ ? -1 : (nanos_ > other.nanos_ ? 1 : 0);
}

__int128 Quantity::ceilUnits() const {
  __int128 q = nanos_ / kNano;
  __int128 r = nanos_ % kNano;
  if (r > 0) ++q;
  if (r < 0) --q;
  return q;
}

__int128 Quantity::ceilMiB() const {
  constexpr __int128 kMiB = 1 << 20;
  __int128 bytes = ceilUnits();
  if (bytes <= 0) return 0;
  return (bytes + kMiB - 1) / kMiB;
}

std::string Quantity::toString() const {
  if (nanos_ == 0) return "0";
  Format format = format_;
  if (format == Format::kBinarySI) {
    // Small or fractional binary values are shown in decimal, never rounded.
    if ((nanos_ > -1024 * kNano && nanos_ < 1024 * kNano) || nanos_ % kNano != 0) {
      format = Format::kDecimalSI;
    } else {
      static constexpr std::array<std::string_view, 7> kBinary{"",   "Ki", "Mi", "Gi",
                                                               "Ti", "Pi", "Ei"};
      __int128 n = nanos_ / kNano;
      size_t k = 0;
      while (k + 1 < kBinary.size() && n % 1024 == 0) {
        n /= 1024;
        ++k;
      }
      return int128ToString(n) + std::string(kBinary[k]);
    }
  }
  __int128 n = nanos_;
  int exp = -9;
  while (n % 10 == 0) {
    n /= 10;
    ++exp;
  }
  switch (exp % 3) {
    case 1:
    case -2:
      n *= 10;
      exp -= 1;
      break;
    case 2:
    case -1:
      n *= 100;
      exp -= 2;
      break;
    default:
      break;
  }
  std::string suffix;
  if (format == Format::kDecimalSI) {
    switch (exp) {
      case -9:
        suffix = "n";
        break;
      case -6:
        suffix = "u";
        break;
      case -3:
        suffix = "m";
        break;
      case 0:
        break;
      case 3:
        suffix = "k";
        break;
      case 6:
        suffix = "M";
        break;
      case 9:
        suffix = "G";
        break;
      case 12:
        suffix = "T";
        break;
      case 15:
        suffix = "P";
        break;
      case 18:
        suffix = "E";
        break;
      default:
        suffix = fmt::format("e{}", exp);
        break;
    }
  } else if (exp != 0) {
    suffix = fmt::format("e{}", exp);
  }
  return int128ToString(n) + suffix;
}

}  // namespace pp::webhook
