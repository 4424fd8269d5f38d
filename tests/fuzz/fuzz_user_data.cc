// process-user-data in the pod VM: the user-data document a cloud's metadata service or the
// NoCloud disk hands it (untrusted in confidential mode), as provision-files reads it: base64
// when the source sends it so, the cloud-config write_files under provision-files' limits, the
// path whitelist that decides what is written, and the initdata file among them (base64 of
// gzip of TOML) as extractInitdata decodes it.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an accepted document stays within kMaxWriteFiles entries and kMaxUserDataBytes of content;
// - only the exact whitelisted paths are ever written, never one of initdata's own files;
// - an initdata entry that decodes has a supported algorithm and a digest of the right length.
#include <string>

#include "base/encoding.h"
#include "fuzz_check.h"
#include "userdata/document.h"
#include "userdata/initdata.h"
#include "userdata/userdata.h"

using pp::fuzz::check;
namespace ud = pp::userdata;

namespace {

void checkDocument(std::string_view document) {
  auto files = ud::parseUserData(document);
  if (!files) return;
  check(files->size() <= ud::kMaxWriteFiles);
  size_t bytes = 0;
  for (const auto& f : *files) bytes += f.content.size();
  check(bytes <= ud::kMaxUserDataBytes);
  for (const auto& f : *files) {
    const auto verdict = ud::checkWritePath(f.path);
    if (verdict != ud::WritePathVerdict::kWrite) continue;
    bool listed = false;
    for (std::string_view allowed : ud::kWriteFilesWhitelist) listed |= f.path == allowed;
    check(listed);
    for (std::string_view own : ud::kInitdataFiles)
      check(!f.path.ends_with("/" + std::string(own)));
    if (f.path == ud::kInitdataPath) {
      if (auto initdata = ud::decodeInitdataFile(f.content)) {
        const size_t hexLength = initdata->algorithm == "sha256"   ? 64
                                 : initdata->algorithm == "sha384" ? 96
                                                                   : 128;
        check(initdata->digestHex.size() == hexLength);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = pp::fuzz::text(data, size);
  checkDocument(input);
  // Azure and GCP send the document base64-encoded.
  if (auto decoded = pp::encoding::base64Decode(input)) checkDocument(*decoded);
  // The whitelist on its own, with the input as the path.
  if (ud::checkWritePath(input) == ud::WritePathVerdict::kWrite) {
    bool listed = false;
    for (std::string_view allowed : ud::kWriteFilesWhitelist) listed |= input == allowed;
    check(listed);
  }
  // The initdata file on its own.
  (void)ud::decodeInitdataFile(input);
  return 0;
}
