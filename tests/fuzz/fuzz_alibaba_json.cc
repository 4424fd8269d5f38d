// Alibaba Cloud answers as the alibabacloud provider reads them: error bodies with their
// retry headers (parseAcsError, then AcsError::toError), the temporary credentials of STS and
// of the metadata service's RAM role answer (readTemporaryCredentials), DescribeInstances items
// with and without a tag filter (parseDescribedInstance) and DescribeInstanceTypes items
// (parseInstanceType), each also as the items of a list answer.
//
// Input: the body, then optionally "\x01" and a Retry-After value and "\x01" and an
// x-acs-retry-after value; the HTTP status comes from the body's length (400-599).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an error's code is at most 200 bytes and its message at most 1000; a retry delay is >= 0;
// - accepted credentials have all three parts, within their size bounds;
// - a described instance has its id, at most 64 private and 65 public addresses, and carries
//   the tag a filter asked for;
// - an accepted instance type has a name and a memory size below 1e6 GiB.
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.h"
#include "providers/alibabacloud/acs_client.h"
#include "providers/alibabacloud/alibabacloud_provider.h"
#include "providers/alibabacloud/credentials.h"

using pp::fuzz::check;
namespace ali = pp::providers::alibabacloud;

namespace {

void credentials(const nlohmann::json& j) {
  if (auto c = ali::readTemporaryCredentials(j, "fuzz")) {
    check(!c->accessKeyId.empty() && c->accessKeyId.size() <= 256);
    check(!c->accessKeySecret.empty() && c->accessKeySecret.size() <= 256);
    check(!c->securityToken.empty() && c->securityToken.size() <= 16384);
  }
}

void instance(const nlohmann::json& j) {
  if (auto d = ali::parseDescribedInstance(j, std::nullopt, "")) {
    check(!d->id.empty());
    check(d->privateIps.size() <= 64 && d->publicIps.size() <= 65);
    // A filter on a tag the item may lack: an accepted item must have it.
    if (ali::parseDescribedInstance(j, std::string("peerpods.io/pod"), "x")) {
      bool has = false;
      if (j.contains("Tags") && j["Tags"].is_object() && j["Tags"].contains("Tag") &&
          j["Tags"]["Tag"].is_array()) {
        for (const auto& t : j["Tags"]["Tag"]) {
          has = has || (t.is_object() && t.value("TagKey", nlohmann::json()) == "peerpods.io/pod" &&
                        t.value("TagValue", nlohmann::json()) == "x");
        }
      }
      check(has);
    }
  }
  if (auto t = ali::parseInstanceType(j)) {
    check(!t->name.empty());
    check(t->memoryMiB <= 1024u * 1000000u);
  }
}

const nlohmann::json* at(const nlohmann::json& j, const char* a, const char* b) {
  if (!j.is_object() || !j.contains(a) || !j[a].is_object() || !j[a].contains(b)) return nullptr;
  return &j[a][b];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = pp::fuzz::split(pp::fuzz::text(data, size));
  pp::net::HttpResponse r;
  r.body = std::string(parts[0]);
  r.status = 400 + static_cast<long>(r.body.size() % 200);
  if (parts.size() > 1) r.headers.emplace_back("Retry-After", std::string(parts[1]));
  if (parts.size() > 2) r.headers.emplace_back("x-acs-retry-after", std::string(parts[2]));
  ali::AcsError e = ali::parseAcsError(r);
  check(e.code.size() <= 200 && e.message.size() <= 1000);
  if (e.retryAfter) check(e.retryAfter->count() >= 0);
  (void)e.toError("fuzz");

  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return 0;
  credentials(j);
  if (j.is_object() && j.contains("Credentials")) credentials(j["Credentials"]);
  instance(j);
  for (auto [a, b] :
       {std::pair{"Instances", "Instance"}, std::pair{"InstanceTypes", "InstanceType"}}) {
    if (const auto* list = at(j, a, b); list && list->is_array()) {
      for (const auto& item : *list) instance(item);
    }
  }
  return 0;
}
