// provision-files: detect the source, fetch and parse the user data with retries, write the
// whitelisted files, then initdata (see userdata.h).
#include <thread>

#include "base/log.h"
#include "cloudinit/cloud_config.h"
#include "userdata/document.h"
#include "userdata/file_writer.h"
#include "userdata/initdata.h"
#include "userdata/sources.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

constexpr char kLog[] = "userdata";

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Fetches and parses until a document parses, the attempts run out or the deadline passes.
// Parsing is inside the loop: a service may serve partial or stale data at first.
Result<std::vector<cloudinit::WriteFile>> fetchCloudConfig(const Config& config, Source& source,
                                                           Clock::time_point start,
                                                           Clock::time_point deadline) {
  Error last;
  int attempt = 0;
  while (true) {
    ++attempt;
    auto doc = source.fetch(deadline);
    if (doc) {
      auto files = parseUserData(*doc);
      if (files) {
        log::info(kLog, "user data from {}: {} bytes, {} write_files entries (attempt {})",
                  source.describe(), doc->size(), files->size(), attempt);
        return files;
      }
      last = files.error();
    } else {
      last = doc.error();
    }
    const auto now = Clock::now();
    if (attempt >= config.attempts) {
      return fail(Code::kUnavailable, "no valid user data from " + source.describe() + " after " +
                                          std::to_string(attempt) + " attempts in " +
                                          fmt::format("{:.1f}", secondsSince(start)) +
                                          " s: " + last.message);
    }
    if (now + config.retryDelay >= deadline) {
      return fail(Code::kDeadlineExceeded, "no valid user data from " + source.describe() +
                                               " within the fetch timeout (-t " +
                                               std::to_string(config.fetchTimeout.count()) +
                                               " s, " + std::to_string(attempt) +
                                               " attempts): " + last.message);
    }
    log::warn(kLog, "attempt {}/{} failed: {}; retrying in {} ms", attempt, config.attempts,
              last.message, config.retryDelay.count());
    std::this_thread::sleep_for(config.retryDelay);
  }
}

}  // namespace

Status provisionFiles(const Config& config) {
  const auto start = Clock::now();
  const auto deadline = start + config.fetchTimeout;
  FileWriter writer(config.root);
  net::HttpClient http;

  auto source = detectSource(config, http, deadline);
  if (source == nullptr) {
    log::info(
        kLog,
        "no user data source on this machine (no NoCloud file or cidata device, no Azure, AWS, "
        "GCP or Alibaba Cloud metadata service, no VMware guestinfo): processing initdata only");
  } else {
    log::info(kLog, "fetching user data from {}", source->describe());
    auto files = fetchCloudConfig(config, *source, start, deadline);
    if (!files) return fail(files.error());
    size_t refused = 0;
    for (const auto& f : *files) {
      const WritePathVerdict verdict = checkWritePath(f.path);
      if (verdict == WritePathVerdict::kRefusedInitdataFile) {
        ++refused;
        log::error(
            kLog,
            "refusing write_files path {}: attestation configuration is taken from initdata only, "
            "whose digest the pod VM attests",
            log::quote(f.path));
        continue;
      }
      if (verdict != WritePathVerdict::kWrite) {
        ++refused;
        log::error(
            kLog,
            "refusing write_files path {}: process-user-data only writes /run/peerpod/{{apf.json, "
            "auth.json, initdata, scratch-space.marker}}",
            log::quote(f.path));
        continue;
      }
      // auth.json holds registry credentials: root only (upstream writes it 0644).
      const mode_t mode = f.path == apf::paths::kAuthJson ? 0600 : 0644;
      if (auto st = writer.write(f.path, f.content, mode); !st)
        return fail(st.error().wrap("writing " + f.path));
      log::info(kLog, "wrote {} ({} bytes)", f.path, f.content.size());
    }
    if (refused > 0) log::warn(kLog, "{} write_files entries refused", refused);
  }
  if (auto st = extractInitdata(writer); !st) return st;
  log::info(kLog, "provision-files done in {:.2f} s", secondsSince(start));
  return {};
}

}  // namespace pp::userdata
