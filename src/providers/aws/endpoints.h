// Service endpoints as the AWS SDKs resolve them: AWS_ENDPOINT_URL_<SERVICE>, then
// AWS_ENDPOINT_URL, then the profile's endpoint_url (all skipped when
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), then the regional endpoint
// https://<service>.<region>.amazonaws.com (.amazonaws.com.cn in China regions).
#pragma once

#include <string>

#include "base/error.h"
#include "base/flags.h"

namespace pp::providers::aws {

// service: "ec2" or "sts". The result has no trailing slash.
Result<std::string> resolveEndpoint(const std::string& service, const std::string& region,
                                    const flags::EnvLookup& env,
                                    const std::string& profileEndpoint = "");

// "host[:port]" of an http(s) URL, as the Host header carries it (default ports omitted), and
// the path ("/" when empty). INVALID_ARGUMENT for anything else.
struct UrlParts {
  std::string scheme, hostHeader, path;
};
Result<UrlParts> splitUrl(const std::string& url);

}  // namespace pp::providers::aws
