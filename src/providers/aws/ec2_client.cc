// EC2 Query API client (see ec2_client.h).
#include "providers/aws/ec2_client.h"

#include <charconv>
#include <cstdlib>
#include <thread>

#include "base/log.h"
#include "providers/aws/endpoints.h"
#include "providers/aws/sigv4.h"

namespace pp::providers::aws {
namespace {

constexpr const char* kLog = "aws";
constexpr int kMaxPages = 50;

int64_t toInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : 0;
}

}  // namespace

Ec2Instance parseInstance(const XmlElement& item) {
  Ec2Instance i;
  i.id = item.childText("instanceId");
  if (const XmlElement* st = item.child("instanceState")) i.state = st->childText("name");
  if (const XmlElement* r = item.child("stateReason")) i.stateReason = r->childText("message");
  i.privateIp = item.childText("privateIpAddress");
  i.publicIp = item.childText("ipAddress");
  if (const XmlElement* tags = item.child("tagSet")) {
    for (const XmlElement* t : tags->all("item"))
      i.tags[t->childText("key")] = t->childText("value");
  }
  return i;
}

Ec2Client::Ec2Client(net::HttpClient http, std::shared_ptr<CredentialsProvider> credentials,
                     Ec2ClientOptions options)
    : http_(std::move(http)),
      credentials_(std::move(credentials)),
      options_(std::move(options)),
      calls_(options_.retry, options_.sleep, options_.mutatingCallsPerSecond) {
  if (!options_.clock) options_.clock = systemClock();
  auto parts = splitUrl(options_.endpoint);
  if (parts) {
    hostHeader_ = parts->hostHeader;
    path_ = parts->path;
  }
}

std::expected<XmlElement, AwsError> Ec2Client::attempt(const std::string& action,
                                                       const QueryParams& params) {
  AwsError err;
  if (hostHeader_.empty()) {
    err.transport = Error(Code::kInvalidArgument, "bad EC2 endpoint \"" + options_.endpoint + "\"");
    return std::unexpected(err);
  }
  auto creds = credentials_->retrieve();
  if (!creds) {
    err.transport = creds.error();
    return std::unexpected(err);
  }
  std::string body = "Action=" + net::urlEncode(action) + "&Version=" + kEc2ApiVersion;
  for (const auto& [k, v] : params) body += "&" + net::urlEncode(k) + "=" + net::urlEncode(v);
  SigningRequest sreq;
  sreq.method = "POST";
  sreq.path = path_;
  sreq.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"Host", hostHeader_}};
  sreq.body = body;
  sign(sreq, *creds,
       SigningScope{options_.region, "ec2",
                    options_.clock() + std::chrono::seconds(skewSeconds_.load())});
  net::HttpRequest req;
  req.method = "POST";
  req.url = options_.endpoint + (path_ == "/" ? "/" : "");
  req.headers = std::move(sreq.headers);
  req.body = std::move(body);
  req.timeout = options_.timeout;
  req.maxResponseBytes = 16 << 20;
  auto r = http_.send(req);
  if (!r) {
    err.transport = r.error();
    return std::unexpected(err);
  }
  if (!r->ok()) {
    AwsError e = parseAwsError(r->status, r->body);
    e.serverTime = parseHttpDate(r->header("Date"));
    return std::unexpected(std::move(e));
  }
  auto doc = parseXml(r->body);
  if (!doc) {
    err.httpStatus = r->status;
    err.code = "MalformedResponse";
    err.message = doc.error().message;
    return std::unexpected(err);
  }
  if (doc->name != action + "Response") {
    err.httpStatus = r->status;
    err.code = "MalformedResponse";
    err.message = "expected <" + action + "Response>, got <" + doc->name + ">";
    return std::unexpected(err);
  }
  return std::move(*doc);
}

std::expected<XmlElement, AwsError> Ec2Client::call(const std::string& action,
                                                    const QueryParams& params, bool mutating) {
  int attempts = 0;
  auto once = [&] {
    ++attempts;
    return attempt(action, params);
  };
  auto classify = [&](const AwsError& e) {
    RetryVerdict v;
    if (e.clockSkewed() && e.serverTime) {
      // Like the AWS SDKs: sign with AWS's clock from now on and try again at once.
      int64_t skew =
          std::chrono::duration_cast<std::chrono::seconds>(*e.serverTime - options_.clock())
              .count();
      if (std::abs(skew - skewSeconds_.load()) >= 60) {
        log::warn(kLog, "this machine's clock differs from AWS's by {}s; signing with AWS's time",
                  skew);
        skewSeconds_ = skew;
        v.retry = true;
        v.after = std::chrono::milliseconds(0);
        return v;
      }
    }
    v.retry = e.retryable();
    v.throttled = e.throttled();
    if (v.retry) {
      log::warn(kLog, "EC2 {} attempt {} failed, retrying: {}", action, attempts,
                e.toError("EC2 " + action).message);
    }
    return v;
  };
  return calls_.run(mutating, once, classify);
}

Result<Ec2Instance> Ec2Client::runInstances(const QueryParams& params) {
  QueryParams p = params;
  p.emplace_back("MinCount", "1");
  p.emplace_back("MaxCount", "1");
  auto r = call("RunInstances", p, true);
  if (!r) return fail(r.error().toError("EC2 RunInstances"));
  const XmlElement* set = r->child("instancesSet");
  auto items = set ? set->all("item") : std::vector<const XmlElement*>{};
  if (items.size() != 1) {
    return fail(Code::kInternal, "EC2 RunInstances: expected one instance in the answer, got " +
                                     std::to_string(items.size()));
  }
  Ec2Instance i = parseInstance(*items[0]);
  if (i.id.empty()) return fail(Code::kInternal, "EC2 RunInstances: the answer has no instanceId");
  return i;
}

Result<std::vector<Ec2Instance>> Ec2Client::describeInstances(const QueryParams& params) {
  std::vector<Ec2Instance> out;
  std::string next;
  for (int page = 0; page < kMaxPages; ++page) {
    QueryParams p = params;
    if (!next.empty()) p.emplace_back("NextToken", next);
    auto r = call("DescribeInstances", p, false);
    if (!r) return fail(r.error().toError("EC2 DescribeInstances"));
    if (const XmlElement* rs = r->child("reservationSet")) {
      for (const XmlElement* res : rs->all("item")) {
        if (const XmlElement* is = res->child("instancesSet")) {
          for (const XmlElement* item : is->all("item")) out.push_back(parseInstance(*item));
        }
      }
    }
    next = r->childText("nextToken");
    if (next.empty()) return out;
  }
  return fail(Code::kResourceExhausted, "EC2 DescribeInstances: more than 50 pages of results");
}

Status Ec2Client::terminateInstance(const std::string& id) {
  auto r = call("TerminateInstances", {{"InstanceId.1", id}}, true);
  if (r) return {};
  const AwsError& e = r.error();
  if (e.code == "InvalidInstanceID.NotFound" || e.code == "InvalidInstanceID.Malformed") {
    log::info(kLog, "instance {} does not exist ({}); nothing to delete", id, e.code);
    return {};
  }
  return fail(e.toError("EC2 TerminateInstances " + id));
}

Result<std::vector<InstanceTypeInfo>> Ec2Client::describeInstanceTypes(
    const std::vector<std::string>& types) {
  std::vector<InstanceTypeInfo> out;
  if (types.empty()) return out;
  QueryParams base;
  for (size_t i = 0; i < types.size(); ++i)
    base.emplace_back("InstanceType." + std::to_string(i + 1), types[i]);
  std::string next;
  for (int page = 0; page < kMaxPages; ++page) {
    QueryParams p = base;
    if (!next.empty()) p.emplace_back("NextToken", next);
    auto r = call("DescribeInstanceTypes", p, false);
    if (!r) return fail(r.error().toError("EC2 DescribeInstanceTypes"));
    if (const XmlElement* set = r->child("instanceTypeSet")) {
      for (const XmlElement* item : set->all("item")) {
        InstanceTypeInfo t;
        t.name = item->childText("instanceType");
        if (const XmlElement* v = item->child("vCpuInfo"))
          t.vcpus = static_cast<uint32_t>(toInt(v->childText("defaultVCpus")));
        if (const XmlElement* m = item->child("memoryInfo"))
          t.memoryMiB = static_cast<uint32_t>(toInt(m->childText("sizeInMiB")));
        if (const XmlElement* g = item->find({"gpuInfo", "gpus"})) {
          for (const XmlElement* gpu : g->all("item")) {
            t.gpus += static_cast<uint32_t>(toInt(gpu->childText("count")));
            if (t.gpuModel.empty()) t.gpuModel = gpu->childText("name");
          }
        }
        if (t.name.empty() || t.vcpus == 0 || t.memoryMiB == 0) {
          return fail(Code::kInternal,
                      "EC2 DescribeInstanceTypes: incomplete entry for \"" + t.name + "\"");
        }
        out.push_back(std::move(t));
      }
    }
    next = r->childText("nextToken");
    if (next.empty()) return out;
  }
  return fail(Code::kResourceExhausted, "EC2 DescribeInstanceTypes: more than 50 pages of results");
}

Result<Ec2Image> Ec2Client::describeImage(const std::string& imageId) {
  auto r = call("DescribeImages", {{"ImageId.1", imageId}}, false);
  if (!r) return fail(r.error().toError("EC2 DescribeImages " + imageId));
  const XmlElement* set = r->child("imagesSet");
  auto items = set ? set->all("item") : std::vector<const XmlElement*>{};
  if (items.empty())
    return fail(Code::kNotFound, "EC2 DescribeImages: image " + imageId + " not found");
  Ec2Image img;
  img.id = items[0]->childText("imageId");
  img.rootDeviceName = items[0]->childText("rootDeviceName");
  if (const XmlElement* bdm = items[0]->child("blockDeviceMapping")) {
    for (const XmlElement* m : bdm->all("item")) {
      if (m->childText("deviceName") == img.rootDeviceName) {
        if (const XmlElement* ebs = m->child("ebs"))
          img.rootVolumeGiB = toInt(ebs->childText("volumeSize"));
      }
    }
  }
  return img;
}

}  // namespace pp::providers::aws
