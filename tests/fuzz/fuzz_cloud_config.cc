// User data as process-user-data parses it in the pod VM: a cloud-config document from the
// host (untrusted in confidential mode). Strict subset: only write_files with path/content.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an accepted document has at most CloudConfigLimits' entries and content bytes;
// - re-rendering what was parsed and parsing it again gives the same files, for paths and
//   contents that are valid UTF-8 (YAML text cannot carry other bytes; everything the adaptor
//   renders is JSON, base64 or empty).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cloudinit/cloud_config.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool validUtf8(const std::string& s) {
  static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pp::cloudinit;
  const std::string input(reinterpret_cast<const char*>(data), size);
  CloudConfigLimits limits;
  limits.maxFiles = 64;
  limits.maxContentBytes = 1 << 20;
  auto files = parseCloudConfig(input, limits);
  if (!files) return 0;
  check(files->size() <= limits.maxFiles);
  size_t bytes = 0;
  for (const auto& f : *files) bytes += f.content.size();
  check(bytes <= limits.maxContentBytes);
  for (const auto& f : *files) {
    if (!validUtf8(f.path) || !validUtf8(f.content)) return 0;
  }
  auto again = parseCloudConfig(renderCloudConfig(*files), limits);
  check(again.has_value() && again->size() == files->size());
  for (size_t i = 0; i < files->size(); ++i) {
    check((*again)[i].path == (*files)[i].path);
    check((*again)[i].content == (*files)[i].content);
  }
  return 0;
}
