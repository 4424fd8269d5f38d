// Endpoint resolution (see endpoints.h).
#include "providers/aws/endpoints.h"

#include <cctype>

namespace pp::providers::aws {

Result<UrlParts> splitUrl(const std::string& url) {
  UrlParts p;
  size_t schemeEnd = url.find("://");
  if (schemeEnd == std::string::npos)
    return fail(Code::kInvalidArgument, "endpoint \"" + url + "\" is not a URL");
  p.scheme = url.substr(0, schemeEnd);
  if (p.scheme != "http" && p.scheme != "https") {
    return fail(Code::kInvalidArgument,
                "endpoint \"" + url + "\": only http and https are supported");
  }
  std::string rest = url.substr(schemeEnd + 3);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  p.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty() || authority.find('@') != std::string::npos ||
      p.path.find_first_of("?#") != std::string::npos) {
    return fail(Code::kInvalidArgument,
                "endpoint \"" + url + "\" must be scheme://host[:port][/path]");
  }
  for (char& c : authority) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string defaultPort = p.scheme == "https" ? ":443" : ":80";
  if (authority.size() > defaultPort.size() &&
      authority.compare(authority.size() - defaultPort.size(), defaultPort.size(), defaultPort) ==
          0) {
    authority.resize(authority.size() - defaultPort.size());
  }
  p.hostHeader = authority;
  return p;
}

Result<std::string> resolveEndpoint(const std::string& service, const std::string& region,
                                    const flags::EnvLookup& env,
                                    const std::string& profileEndpoint) {
  auto isTrue = [](std::optional<std::string> v) {
    if (!v) return false;
    for (char& c : *v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return *v == "true";
  };
  std::string url;
  if (!isTrue(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))) {
    std::string upper = service;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (auto v = env("AWS_ENDPOINT_URL_" + upper); v && !v->empty())
      url = *v;
    else if (auto g = env("AWS_ENDPOINT_URL"); g && !g->empty())
      url = *g;
    else
      url = profileEndpoint;
  }
  if (url.empty()) {
    if (region.empty()) {
      return fail(Code::kInvalidArgument,
                  "no AWS region: set -aws-region or AWS_REGION (or run on EC2, where the "
                  "instance metadata service tells it)");
    }
    for (char c : region) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return fail(Code::kInvalidArgument, "AWS region \"" + region + "\" is not a region name");
      }
    }
    std::string suffix = region.starts_with("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com";
    url = "https://" + service + "." + region + suffix;
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (auto parts = splitUrl(url); !parts) return fail(parts.error());
  return url;
}

}  // namespace pp::providers::aws
