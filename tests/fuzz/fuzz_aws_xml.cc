// EC2 and STS answers (XML) as the aws provider reads them: the bounded libxml2 reader
// (parseXml), the error document (parseAwsError), instances in RunInstances/DescribeInstances
// answers (parseInstance), the STS AssumeRoleWithWebIdentity answer (parseWebIdentityAnswer),
// and the timestamps in answers and headers (utc::parseRfc3339 as the credentials read Expiration,
// parseHttpDate).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - a parsed tree is within XmlLimits' depth and element count;
// - an error document always yields an Error with a message; a 5xx is retryable;
// - accepted STS credentials are complete.
#include <string>

#include "base/utc_time.h"
#include "fuzz_check.h"
#include "providers/aws/aws_error.h"
#include "providers/aws/credentials.h"
#include "providers/aws/ec2_client.h"
#include "providers/aws/xml.h"

using pp::fuzz::check;
namespace aws = pp::providers::aws;

namespace {

size_t walk(const aws::XmlElement& e, int depth, int maxDepth) {
  check(depth <= maxDepth);
  size_t n = 1;
  for (const auto& c : e.children) n += walk(c, depth + 1, maxDepth);
  return n;
}

void instances(const aws::XmlElement* set) {
  if (set == nullptr) return;
  for (const aws::XmlElement* item : set->all("item")) {
    aws::Ec2Instance i = aws::parseInstance(*item);
    (void)i;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = pp::fuzz::text(data, size);
  aws::XmlLimits limits;
  if (auto doc = aws::parseXml(input, limits)) {
    check(walk(*doc, 1, limits.maxDepth) <= limits.maxElements);
    instances(doc->child("instancesSet"));
    if (const aws::XmlElement* rs = doc->child("reservationSet")) {
      for (const aws::XmlElement* res : rs->all("item")) instances(res->child("instancesSet"));
    }
    (void)doc->find({"instanceTypeSet", "item", "gpuInfo", "gpus"});
  }

  for (long status : {400L, 503L}) {
    aws::AwsError e = aws::parseAwsError(status, input);
    check(e.httpStatus == status);
    pp::Error err = e.toError("EC2 DescribeInstances");
    check(!err.message.empty());
    if (status == 503) check(e.retryable());
  }

  if (auto creds = aws::parseWebIdentityAnswer(input, "STS AssumeRoleWithWebIdentity")) {
    check(!creds->accessKeyId.empty() && !creds->secretAccessKey.empty() &&
          !creds->sessionToken.empty());
  }

  // Expiration as STS and IMDS write it; a time that parses formats back to the same second.
  if (auto t = pp::utc::parseRfc3339(input, {.offset = false}))
    check(pp::utc::parseRfc3339(pp::utc::format(*t)) == t);
  (void)aws::parseHttpDate(input);
  return 0;
}
