// Initdata (upstream's pkg/initdata): a TOML document with `algorithm` (sha256, sha384 or
// sha512), `version` and a `data` table of file contents. Kata passes it in the pod
// annotation io.katacontainers.config.hypervisor.cc_init_data as base64(gzip(TOML)); the
// adaptor ships it in user data as /run/peerpod/initdata; process-user-data unpacks it.
//
// Initdata comes from whoever creates the pod, so everything here is bounded: the encoded and
// the decoded sizes, and the key nesting (toml++ builds and destroys nested tables
// recursively, so 20 000 dotted key segments overflow the stack; its own limit covers only
// arrays and inline tables). No regular expressions: libstdc++'s std::regex recurses per
// input character.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace pp::cloudinit {

// Bound of both the encoded annotation and the decoded TOML.
inline constexpr size_t kMaxInitdataBytes = 256 * 1024;
// Dots outside strings and comments (dotted keys, table headers, numbers). Real initdata has a
// handful (`data."aa.toml"`); the bound keeps the table depth far below what overflows a stack.
inline constexpr size_t kMaxInitdataKeyDots = 256;

struct InitdataDocument {
  std::string algorithm;  // sha256, sha384 or sha512
  std::string version;
  std::vector<std::pair<std::string, std::string>> data;  // sorted by key
  std::vector<std::string> unknownKeys;                   // top-level keys we ignore, as upstream
};

// Parses initdata TOML strictly: `algorithm` and `version` must be strings (algorithm one of
// the three digests), `data` a table of strings; other top-level keys are reported in
// unknownKeys. Errors say what is wrong and where.
Result<InitdataDocument> parseInitdataToml(std::string_view toml);

// base64(gzip(TOML)) -> the TOML text, checked with parseInitdataToml.
Result<std::string> decodeInitdata(std::string_view encoded);

// The annotation or -initdata value as it may come: base64(gzip(TOML)), or plain TOML (as
// upstream's adaptor accepts). Returns the base64(gzip(TOML)) form; "" stays "".
Result<std::string> normaliseInitdata(std::string_view value);

// base64(gzip(text)), without any check: the annotation form of a document (tests, tools).
std::string encodeInitdata(std::string_view text);

}  // namespace pp::cloudinit
