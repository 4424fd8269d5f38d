// Config defaults and the PEERPODS_USERDATA_* test hooks (see userdata.h).
#include <charconv>

#include "userdata/userdata.h"

namespace pp::userdata {

Status Config::applyEnvironment(const flags::EnvLookup& env) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (auto v = get("PEERPODS_USERDATA_ROOT")) root = *v;
  if (auto v = get("PEERPODS_USERDATA_AZURE_URL")) azureUrl = *v;
  if (auto v = get("PEERPODS_USERDATA_AWS_URL")) awsUrl = *v;
  if (auto v = get("PEERPODS_USERDATA_GCP_URL")) gcpUrl = *v;
  if (auto v = get("PEERPODS_USERDATA_ALIBABA_URL")) alibabaUrl = *v;
  if (auto v = get("PEERPODS_USERDATA_AWS_IMDSV1")) {
    if (*v != "allow" && *v != "deny") {
      return fail(Code::kInvalidArgument,
                  "PEERPODS_USERDATA_AWS_IMDSV1=" + *v + ": must be allow or deny");
    }
    awsImdsV1Allowed = *v == "allow";
  }
  // Set but empty means "no hypervisor", so this one is read without get().
  if (auto v = env("PEERPODS_USERDATA_HYPERVISOR")) hypervisorVendor = *v;
  if (auto v = get("PEERPODS_USERDATA_RETRY_DELAY")) {
    auto d = flags::parseDuration(*v);
    if (!d || d->count() < 0) {
      return fail(Code::kInvalidArgument,
                  "PEERPODS_USERDATA_RETRY_DELAY=" + *v + ": not a duration such as 5s or 200ms");
    }
    retryDelay = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  if (auto v = get("PEERPODS_USERDATA_ATTEMPTS")) {
    int n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || end != v->data() + v->size() || n < 1) {
      return fail(Code::kInvalidArgument,
                  "PEERPODS_USERDATA_ATTEMPTS=" + *v + ": not a positive integer");
    }
    attempts = n;
  }
  return {};
}

std::string Config::hostPath(std::string_view vmPath) const {
  std::string out = root;
  while (!out.empty() && out.back() == '/') out.pop_back();
  out += vmPath;
  return out;
}

}  // namespace pp::userdata
