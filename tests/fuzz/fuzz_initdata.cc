// Initdata as it arrives from a pod annotation (cc_init_data) or in the pod VM's user data:
// plain TOML, or base64(gzip(TOML)). The security review found a 428-byte annotation that
// overflowed the adaptor's stack; this target would have found it.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - parseInitdataToml accepts only documents with a supported algorithm and a version;
// - normaliseInitdata accepts plain TOML exactly when parseInitdataToml does, and what it
//   returns decodes back to the same TOML;
// - decodeInitdata(base64(gzip(x))) agrees with parseInitdataToml(x);
// - each layer also gets the raw input: decodeInitdata(x) (the base64 layer), and
//   decodeInitdata(base64(x)) (the gzip layer on arbitrary bytes, bombs and truncation
//   included); what either accepts is at most kMaxInitdataBytes of TOML that parses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "cloudinit/initdata.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pp::cloudinit;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto doc = parseInitdataToml(input);
  if (doc) {
    check(doc->algorithm == "sha256" || doc->algorithm == "sha384" || doc->algorithm == "sha512");
    check(!doc->version.empty());
  }

  const std::string encoded = encodeInitdata(input);
  auto decoded = decodeInitdata(encoded);
  if (encoded.size() <= kMaxInitdataBytes) {
    check(decoded.has_value() == doc.has_value());
    if (decoded) check(*decoded == input);
  }

  auto normalised = normaliseInitdata(input);
  if (normalised && !input.empty()) {
    auto back = decodeInitdata(*normalised);
    check(back.has_value());
    // Plain TOML comes back as itself; an encoded value is kept as given.
    if (*normalised != input) check(*back == input);
  }

  for (const auto& layer : {std::string(input), pp::encoding::base64Encode(input)}) {
    if (auto toml = decodeInitdata(layer)) {
      check(toml->size() <= kMaxInitdataBytes);
      check(parseInitdataToml(*toml).has_value());
    }
  }
  return 0;
}
