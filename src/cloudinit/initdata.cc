// Initdata decoding and strict parsing (see initdata.h).
#include "cloudinit/initdata.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <zlib.h>

#include <algorithm>

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
  // part when it builds and frees the tables.
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
  toml::table doc;
  try {
    doc = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return fail(Code::kInvalidArgument, "initdata is not valid TOML (" + where(e.source()) +
                                            "): " + std::string(e.description()));
  }
  InitdataDocument out;
  for (auto&& [key, value] : doc) {
    const std::string_view name = key.str();
    if (name == "algorithm" || name == "version") {
      if (!value.is_string()) {
        return fail(Code::kInvalidArgument,
                    "initdata: `" + std::string(name) + "` is not a string");
      }
      (name == "algorithm" ? out.algorithm : out.version) = value.as_string()->get();
    } else if (name == "data") {
      const toml::table* data = value.as_table();
      if (data == nullptr) return fail(Code::kInvalidArgument, "initdata: `data` is not a table");
      for (auto&& [file, content] : *data) {
        if (!content.is_string()) {
          return fail(Code::kInvalidArgument, "initdata: an entry of `data` is not a string (" +
                                                  where(content.source()) + ")");
        }
        out.data.emplace_back(std::string(file.str()), content.as_string()->get());
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
