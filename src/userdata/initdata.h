// Initdata in the pod VM (upstream's pkg/initdata): /run/peerpod/initdata holds
// base64(gzip(TOML)) with `algorithm` (sha256, sha384 or sha512), `version` and a `data` table
// of file contents. Its aa.toml, cdh.toml and policy.rego entries become /run/peerpod/<key>;
// the lowercase hex digest of the TOML bytes (with `algorithm`) becomes
// /run/peerpod/initdata.digest, which attesters use (mkosi images extend PCR 8 with it).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "userdata/file_writer.h"

namespace pp::userdata {

// Used when the user data carried no initdata, so that the attestation agent still gets a
// configuration (empty aa.toml) and a digest exists. Its digest is the SHA-256 of these bytes.
inline constexpr char kDefaultInitdataToml[] =
    "algorithm = \"sha256\"\n"
    "version = \"0.1.0\"\n"
    "\n"
    "[data]\n"
    "\"aa.toml\" = ''\n";

struct Initdata {
  std::string algorithm;
  std::string version;
  std::vector<std::pair<std::string, std::string>> data;  // sorted by key
  std::string digestHex;
};

// Parses initdata TOML (strictly: algorithm and version must be strings, data a table of
// strings; other top-level keys are ignored with a warning, as upstream's TOML decoder does)
// and computes its digest over the exact bytes.
Result<Initdata> parseInitdataToml(std::string_view toml);

// Decodes the content of /run/peerpod/initdata (base64 of gzip; line breaks ignored, as Go's
// base64 decoder does) and parses it.
Result<Initdata> decodeInitdataFile(std::string_view fileContent);

// Lowercase hex of sha256/sha384/sha512 over `bytes`.
Result<std::string> initdataDigest(std::string_view algorithm, std::string_view bytes);

// The initdata step of provision-files: reads /run/peerpod/initdata (or uses the default
// above when there is none), makes /run/peerpod/{aa.toml,cdh.toml,policy.rego} exactly
// initdata's entries (written, or removed when it has none) and writes initdata.digest.
Status extractInitdata(const FileWriter& writer);

}  // namespace pp::userdata
