// Initdata decoding and strict parsing (see initdata.h).
#include "cloudinit/initdata.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "base/encoding.h"

namespace pp::cloudinit {
namespace {

Result<std::string> gunzip(std::string_view data) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return fail(Code::kInternal, "zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > kMaxInitdataBytes) {
      inflateEnd(&zs);
      return fail(Code::kInvalidArgument, "initdata: decompressed size above 256 KiB");
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return fail(Code::kInvalidArgument, "initdata: not valid gzip data");
  return out;
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// What a linear pass over the document finds outside strings and comments (TOML's four string
// forms): the dots (key separators, number parts) and the first byte that is not ASCII.
// toml++ 3.3 (Debian's) reaches __builtin_unreachable() in is_non_ascii_horizontal_whitespace()
// for the code points of three of its lookup blocks, which its parser tests on every character,
// in strings too (found by fuzz_initdata: any "é" or "あ" in an initdata string). Those code
// points are handed to it shifted into plane 15 (U+F0000 + c), which it takes as ordinary
// characters, and shifted back in what it returns. This mirrors the function's own block logic.
constexpr bool tomlppUnsafe(char32_t c) {
  if (c < 0xA0 || c > 0xFEFF || c == 0xA0 || c == 0x3000 || c == 0xFEFF) return false;
  const uint64_t block = (static_cast<uint64_t>(c) - 0xA0) / 0x3FA;
  return block == 0 || block == 11 || block == 63;
}
constexpr char32_t kShift = 0xF0000;

void appendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// The UTF-8 sequence at s[i] (2 to 4 bytes, well-formed): its code point and length; 0 length
// when it is not one (toml++ then reports the bad UTF-8 itself).
std::pair<char32_t, size_t> decodeUtf8(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = b(0);
  size_t n = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (lead >= 0xF5) n = 0;
  if (n == 0 || i + n > s.size()) return {0, 0};
  char32_t c = n == 2 ? lead & 0x1F : n == 3 ? lead & 0x0F : lead & 0x07;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return {0, 0};
    c = (c << 6) | (b(k) & 0x3F);
  }
  if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF))) return {0, 0};
  if (c >= 0xD800 && c <= 0xDFFF) return {0, 0};
  return {c, n};
}

// `text` with each well-formed non-ASCII code point c for which map(c) gives a value replaced by
// that value; everything else (ASCII, malformed UTF-8, toml++ reports it) kept byte for byte.
template <typename Map>
std::string remapCodePoints(std::string_view text, Map map) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    auto [c, n] = static_cast<unsigned char>(text[i]) < 0x80 ? std::pair<char32_t, size_t>{0, 0}
                                                             : decodeUtf8(text, i);
    if (n == 0) {
      out += text[i++];
      continue;
    }
    if (std::optional<char32_t> to = map(c)) {
      appendUtf8(out, *to);
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

// `text` with the code points toml++ cannot take shifted into plane 15; an error when the text
// holds plane 15/16 private-use characters itself (they could not be told apart afterwards).
Result<std::string> shiftForTomlpp(std::string_view text) {
  std::optional<char32_t> privateUse;
  std::string out = remapCodePoints(text, [&](char32_t c) -> std::optional<char32_t> {
    if (c >= kShift && !privateUse) privateUse = c;
    if (tomlppUnsafe(c)) return kShift + c;
    return std::nullopt;
  });
  if (privateUse) {
    return fail(Code::kInvalidArgument,
                "initdata: private-use character U+" +
                    fmt::format("{:X}", static_cast<uint32_t>(*privateUse)) +
                    " (planes 15 and 16 are not accepted)");
  }
  return out;
}

// The inverse of shiftForTomlpp for a string toml++ returned.
std::string unshift(std::string_view text) {
  return remapCodePoints(text, [](char32_t c) -> std::optional<char32_t> {
    if (c >= kShift && tomlppUnsafe(c - kShift)) return c - kShift;
    return std::nullopt;
  });
}

struct OutsideStrings {
  size_t dots = 0;
  size_t firstNonAscii = std::string_view::npos;
};

OutsideStrings scanOutsideStrings(std::string_view s) {
  OutsideStrings out;
  size_t i = 0;
  const size_t n = s.size();
  auto startsWith = [&](size_t at, std::string_view what) {
    return s.substr(at, what.size()) == what;
  };
  while (i < n) {
    const char c = s[i];
    if (c == '#') {
      while (i < n && s[i] != '\n') ++i;
    } else if (startsWith(i, "\"\"\"") || startsWith(i, "'''")) {
      const std::string_view close = s.substr(i, 3);
      const bool escapes = c == '"';
      i += 3;
      while (i < n && !startsWith(i, close)) i += (escapes && s[i] == '\\') ? 2 : 1;
      i += 3;
    } else if (c == '"' || c == '\'') {
      ++i;
      while (i < n && s[i] != c && s[i] != '\n') i += (c == '"' && s[i] == '\\') ? 2 : 1;
      ++i;
    } else {
      if (c == '.') ++out.dots;
      if (static_cast<unsigned char>(c) >= 0x80 && out.firstNonAscii == std::string_view::npos)
        out.firstNonAscii = i;
      ++i;
    }
  }
  return out;
}

size_t lineOf(std::string_view text, size_t offset) {
  return 1 + static_cast<size_t>(std::count(
                 text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

std::string where(const toml::source_region& region) {
  return "line " + std::to_string(region.begin.line) + ", column " +
         std::to_string(region.begin.column);
}

}  // namespace

Result<InitdataDocument> parseInitdataToml(std::string_view text) {
  if (text.size() > kMaxInitdataBytes)
    return fail(Code::kInvalidArgument, "initdata: above 256 KiB");
  // Checks of what TOML forbids anyway, before toml++ sees the text: toml++ 3.3 reaches an
  // assertion on some control characters and __builtin_unreachable() on some non-ASCII
  // characters between tokens (both found by fuzz_initdata), and it recurses per dotted key
  // part when it builds and frees the tables. Non-ASCII characters in strings and comments are
  // shifted out of its way (shiftForTomlpp).
  // No control characters but tab and line ends, in strings and comments alike.
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      return fail(Code::kInvalidArgument,
                  fmt::format("initdata: control character 0x{:02x} on line {} (TOML allows none)",
                              c, lineOf(text, i)));
    }
  }
  const OutsideStrings outside = scanOutsideStrings(text);
  // Bare keys are ASCII: other characters belong in strings and comments only.
  if (outside.firstNonAscii != std::string_view::npos) {
    return fail(Code::kInvalidArgument,
                fmt::format("initdata: a non-ASCII character outside a string on line {}",
                            lineOf(text, outside.firstNonAscii)));
  }
  if (outside.dots > kMaxInitdataKeyDots) {
    return fail(Code::kInvalidArgument,
                "initdata: more than " + std::to_string(kMaxInitdataKeyDots) +
                    " dotted key parts; initdata holds its files as strings in [data]");
  }
  auto shifted = shiftForTomlpp(text);
  if (!shifted) return fail(shifted.error());
  toml::table doc;
  try {
    doc = toml::parse(*shifted);
  } catch (const toml::parse_error& e) {
    return fail(Code::kInvalidArgument, "initdata is not valid TOML (" + where(e.source()) +
                                            "): " + std::string(e.description()));
  }
  InitdataDocument out;
  for (auto&& [key, value] : doc) {
    const std::string name = unshift(key.str());
    if (name == "algorithm" || name == "version") {
      if (!value.is_string()) {
        return fail(Code::kInvalidArgument, "initdata: `" + name + "` is not a string");
      }
      (name == "algorithm" ? out.algorithm : out.version) = unshift(value.as_string()->get());
    } else if (name == "data") {
      const toml::table* data = value.as_table();
      if (data == nullptr) return fail(Code::kInvalidArgument, "initdata: `data` is not a table");
      for (auto&& [file, content] : *data) {
        if (!content.is_string()) {
          return fail(Code::kInvalidArgument, "initdata: an entry of `data` is not a string (" +
                                                  where(content.source()) + ")");
        }
        out.data.emplace_back(unshift(file.str()), unshift(content.as_string()->get()));
      }
    } else {
      out.unknownKeys.emplace_back(name);
    }
  }
  if (out.algorithm.empty())
    return fail(Code::kInvalidArgument, "initdata: `algorithm` is missing");
  if (out.algorithm != "sha256" && out.algorithm != "sha384" && out.algorithm != "sha512") {
    return fail(Code::kInvalidArgument,
                "initdata: unsupported `algorithm` (sha256, sha384 or sha512)");
  }
  if (out.version.empty()) return fail(Code::kInvalidArgument, "initdata: `version` is missing");
  return out;
}

namespace {

// Whether `value` is base64 of something that starts like gzip (plain TOML never is base64).
bool looksEncoded(std::string_view value) {
  auto raw = encoding::base64Decode(value);
  return raw && raw->size() >= 2 && (*raw)[0] == '\x1f' && (*raw)[1] == '\x8b';
}

}  // namespace

Result<std::string> decodeInitdata(std::string_view encoded) {
  if (encoded.size() > kMaxInitdataBytes)
    return fail(Code::kInvalidArgument, "initdata above 256 KiB");
  auto raw = encoding::base64Decode(encoded);
  if (!raw) return fail(Code::kInvalidArgument, "initdata is not valid base64");
  auto toml = gunzip(*raw);
  if (!toml) return toml;
  if (auto doc = parseInitdataToml(*toml); !doc) return fail(doc.error());
  return toml;
}

std::string encodeInitdata(std::string_view text) {
  return encoding::base64Encode(gzip(text));
}

Result<std::string> normaliseInitdata(std::string_view value) {
  if (value.empty()) return std::string();
  if (value.size() > kMaxInitdataBytes)
    return fail(Code::kInvalidArgument, "initdata above 256 KiB");
  if (looksEncoded(value)) {
    if (auto toml = decodeInitdata(value); !toml) return fail(toml.error());
    return std::string(value);
  }
  // Not base64(gzip(...)): accept plain TOML, as upstream's adaptor does.
  if (auto doc = parseInitdataToml(value); !doc) return fail(doc.error());
  return encodeInitdata(value);
}

}  // namespace pp::cloudinit
