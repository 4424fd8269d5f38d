// GCP answers as the gcp provider reads them: Compute Engine resources (parseOperation,
// parseInstance, parseMachineType, also as "items" of a list), error bodies (parseError), token
// endpoint answers (parseTokenResponse) and service-account key files (parseServiceAccountKey).
// The part of the input after a \x01 byte, if any, is the answer's Retry-After header.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an error keeps the HTTP status and has a bounded message;
// - an accepted token is non-empty and expires after `now`;
// - parsed resources have the fields their parser promises (a name; an operation's status).
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.h"
#include "providers/gcp/compute_client.h"
#include "providers/gcp/gcp_auth.h"

using pp::fuzz::check;
namespace gcp = pp::providers::gcp;

namespace {

void resource(const nlohmann::json& j) {
  if (auto op = gcp::parseOperation(j)) check(!op->name.empty() && !op->status.empty());
  if (auto i = gcp::parseInstance(j)) check(!i->name.empty());
  if (auto t = gcp::parseMachineType(j)) check(!t->name.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = pp::fuzz::split(pp::fuzz::text(data, size));
  const std::string_view body = parts[0];

  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded()) {
    resource(j);
    if (j.is_object() && j.contains("items") && j["items"].is_array()) {
      for (const auto& item : j["items"]) resource(item);
    }
  }

  pp::net::HttpResponse r;
  r.body = std::string(body);
  if (parts.size() > 1) r.headers.emplace_back("Retry-After", std::string(parts[1]));
  for (long status : {200L, 403L, 503L}) {
    r.status = status;
    if (status != 200) {
      gcp::GcpError e = gcp::parseError(r);
      check(e.httpStatus == status);
      check(e.message.size() <= 1000);
    }
    const auto now = std::chrono::system_clock::time_point(std::chrono::hours(500000));
    if (auto token = gcp::parseTokenResponse(r, "https://oauth2.googleapis.com/token", now)) {
      check(status == 200);
      check(!token->value.empty() && token->expiry > now);
    }
  }

  (void)gcp::parseServiceAccountKey(body);
  return 0;
}
