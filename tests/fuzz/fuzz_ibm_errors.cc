// IBM Cloud error answers as the ibmcloud (VPC) and ibmcloud-powervs providers read them: the
// VPC client's {"errors": [{code, message}], "trace"} (parseIbmError), PowerVS's {code,
// description, error, message} / the platform's errors list / IAM Identity's {errorCode,
// errorMessage} (parsePowerVsError), each with its Retry-After header and then made an Error
// (toError), and the IAM token endpoint's error detail (iamErrorText).
//
// Input: the body, then optionally "\x01" and a Retry-After value; the HTTP status comes from
// the body's length (400-599).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout": messages are at
// most 1000 bytes, the VPC trace at most 100, PowerVS's code at most 200, IAM's detail at most
// 400; a retry delay is >= 0.
#include <string>

#include "fuzz_check.h"
#include "providers/ibmcloud-powervs/powervs_client.h"
#include "providers/ibmcloud/iam.h"
#include "providers/ibmcloud/vpc_client.h"

using pp::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = pp::fuzz::split(pp::fuzz::text(data, size));
  pp::net::HttpResponse r;
  r.body = std::string(parts[0]);
  r.status = 400 + static_cast<long>(r.body.size() % 200);
  if (parts.size() > 1) r.headers.emplace_back("Retry-After", std::string(parts[1]));

  auto vpc = pp::providers::ibmcloud::parseIbmError(r);
  check(vpc.message.size() <= 1000 && vpc.trace.size() <= 100);
  if (vpc.retryAfter) check(vpc.retryAfter->count() >= 0);
  (void)vpc.toError("fuzz");

  auto pvs = pp::providers::powervs::parsePowerVsError(r);
  check(pvs.message.size() <= 1000 && pvs.code.size() <= 200);
  if (pvs.retryAfter) check(pvs.retryAfter->count() >= 0);
  (void)pvs.toError("fuzz");

  check(pp::providers::ibmcloud::iamErrorText(r.body).size() <= 400);
  return 0;
}
