// The user-data sources: the NoCloud file, the cidata device, and the metadata services of
// Azure, AWS, GCP and Alibaba Cloud; plus upstream's detection order (see sources.h).
#include "userdata/sources.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "base/files.h"
#include "base/log.h"
#include "base/strings.h"
#include "userdata/cidata_device.h"
#include "userdata/file_writer.h"
#include "userdata/platform.h"

namespace pp::userdata {
namespace {

constexpr char kLog[] = "userdata";
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string joinUrl(std::string base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + std::string(path);
}

// Base64 as the clouds send it: line breaks ignored (Go's decoder does the same), else strict.
Result<std::string> decodeBase64Body(const std::string& body, const std::string& what) {
  std::string compact;
  compact.reserve(body.size());
  for (char c : body) {
    if (c != '\n' && c != '\r') compact += c;
  }
  auto decoded = encoding::base64Decode(compact);
  if (!decoded) return fail(Code::kInvalidArgument, what + " is not valid base64");
  return std::move(*decoded);
}

// Keeps copies (an HttpClient copy shares its connections), so a source may outlive the
// Config and client it was made from.
class MetadataClient {
 public:
  MetadataClient(const Config& config, const net::HttpClient& http)
      : requestTimeout_(config.requestTimeout), http_(http) {}

  // One request; the whole exchange within min(requestTimeout, time left).
  Result<net::HttpResponse> send(const std::string& method, const std::string& url, Headers headers,
                                 Clock::time_point deadline, size_t maxBody) const {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return fail(Code::kDeadlineExceeded, method + " " + url + ": no time left");
    net::HttpRequest req;
    req.method = method;
    req.url = url;
    req.headers = std::move(headers);
    req.timeout = std::min(requestTimeout_, left);
    req.maxResponseBytes = maxBody;
    auto resp = http_.send(req);
    if (!resp) {
      if (resp.error().code == Code::kResourceExhausted) {
        return fail(Code::kInvalidArgument, method + " " + url + ": the answer is larger than " +
                                                std::to_string(maxBody) + " bytes");
      }
      return fail(resp.error().wrap(method + " " + url));
    }
    return resp;
  }

  // GET that must answer 200 (and carry `mustAnswer`, a header, when its name is set); the
  // body, base64-decoded when `base64`.
  Result<std::string> getUserData(const std::string& url, Headers headers, bool base64,
                                  Clock::time_point deadline,
                                  std::pair<std::string, std::string> mustAnswer = {}) const {
    // Base64 text of the largest document, with room for line breaks.
    const size_t maxBody = base64 ? kMaxUserDataBytes / 3 * 4 + 64 * 1024 : kMaxUserDataBytes;
    auto resp = send("GET", url, std::move(headers), deadline, maxBody);
    if (!resp) return fail(resp.error());
    if (resp->status != 200) {
      return fail(Code::kUnavailable, "GET " + url + ": HTTP " + std::to_string(resp->status));
    }
    if (!mustAnswer.first.empty() && resp->header(mustAnswer.first) != mustAnswer.second) {
      return fail(Code::kUnavailable, "GET " + url + ": the answer has no " + mustAnswer.first +
                                          ": " + mustAnswer.second +
                                          " header, so it is not from the metadata service");
    }
    if (!base64) return std::move(resp->body);
    return decodeBase64Body(resp->body, "user data from " + url);
  }

 private:
  std::chrono::milliseconds requestTimeout_;
  net::HttpClient http_;
};

// The NoCloud file: a regular file only (a link or a FIFO put there is refused, not followed
// or waited on).
class FileSource : public Source {
 public:
  explicit FileSource(const Config& config) : path_(config.hostPath(kUserDataFile)) {}
  std::string describe() const override { return "file " + path_; }
  Result<std::string> fetch(Clock::time_point) override {
    auto data = readRegularFile(path_, kMaxUserDataBytes);
    if (!data && data.error().code == Code::kOutOfRange) {
      return fail(Code::kInvalidArgument,
                  path_ + " is larger than " + std::to_string(kMaxUserDataBytes) + " bytes");
    }
    return data;
  }

 private:
  std::string path_;
};

class DeviceSource : public Source {
 public:
  DeviceSource(const Config& config, std::string device, std::string fsType)
      : root_(config.root), device_{std::move(device), std::move(fsType)} {}
  std::string describe() const override {
    return "cidata device " + device_.path + " (" + device_.fsType + ")";
  }
  Result<std::string> fetch(Clock::time_point) override {
    auto data = readUserDataFromDevice(device_, root_, kMaxUserDataBytes);
    if (!data && data.error().code == Code::kOutOfRange) {
      return fail(Code::kInvalidArgument, "user-data on " + device_.path + " is larger than " +
                                              std::to_string(kMaxUserDataBytes) + " bytes");
    }
    return data;
  }

 private:
  std::string root_;
  CidataDevice device_;
};

// Azure IMDS: base64 of the VM's userData, only with the header Metadata: true.
class AzureSource : public Source {
 public:
  AzureSource(const Config& config, const net::HttpClient& http)
      : client_(config, http),
        url_(joinUrl(config.azureUrl,
                     "/metadata/instance/compute/userData?api-version=2021-01-01&format=text")) {}
  std::string describe() const override { return "Azure IMDS " + url_; }
  Result<std::string> fetch(Clock::time_point deadline) override {
    return client_.getUserData(url_, {{"Metadata", "true"}}, true, deadline);
  }

 private:
  MetadataClient client_;
  std::string url_;
};

// AWS IMDS: IMDSv2 (a session token from PUT /latest/api/token, sent with the GET). A plain
// IMDSv1 GET when the token cannot be had only if Config::awsImdsV1Allowed: upstream falls
// back on any token failure, which lets whatever answers the GET alone (an IMDSv1-only
// impostor, a hop-limited PUT) supply the user data.
class AwsSource : public Source {
 public:
  AwsSource(const Config& config, const net::HttpClient& http)
      : client_(config, http),
        imdsV1Allowed_(config.awsImdsV1Allowed),
        tokenUrl_(joinUrl(config.awsUrl, "/latest/api/token")),
        url_(joinUrl(config.awsUrl, "/latest/user-data")) {}
  std::string describe() const override { return "AWS IMDS " + url_; }
  Result<std::string> fetch(Clock::time_point deadline) override {
    Headers headers;
    auto token = sessionToken(deadline);
    if (token) {
      headers.emplace_back("X-aws-ec2-metadata-token", std::move(*token));
    } else if (imdsV1Allowed_) {
      log::warn(kLog,
                "AWS IMDSv2 token unavailable ({}); falling back to IMDSv1 "
                "(PEERPODS_USERDATA_AWS_IMDSV1=allow)",
                token.error().message);
    } else {
      return fail(
          token.error().wrap("no IMDSv2 session token (IMDSv1 is not used unless "
                             "PEERPODS_USERDATA_AWS_IMDSV1=allow)"));
    }
    return client_.getUserData(url_, std::move(headers), false, deadline);
  }

 private:
  Result<std::string> sessionToken(Clock::time_point deadline) const {
    auto resp = client_.send("PUT", tokenUrl_, {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}},
                             deadline, 4096);
    if (!resp) return fail(resp.error());
    if (resp->status != 200) {
      return fail(Code::kUnavailable,
                  "PUT " + tokenUrl_ + ": HTTP " + std::to_string(resp->status));
    }
    // The token goes back into a header: only visible ASCII, so it cannot add header lines.
    const std::string& t = resp->body;
    const bool valid =
        !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (!valid)
      return fail(Code::kInvalidArgument, "PUT " + tokenUrl_ + ": the token is not printable text");
    return t;
  }

  MetadataClient client_;
  bool imdsV1Allowed_;
  std::string tokenUrl_;
  std::string url_;
};

// GCP metadata: the user-data attribute (base64, as the adaptor sets it), with the header
// Metadata-Flavor: Google, which the metadata server also puts on every answer.
class GcpSource : public Source {
 public:
  GcpSource(const Config& config, const net::HttpClient& http)
      : client_(config, http),
        url_(joinUrl(config.gcpUrl, "/computeMetadata/v1/instance/attributes/user-data")) {}
  std::string describe() const override { return "GCP metadata " + url_; }
  Result<std::string> fetch(Clock::time_point deadline) override {
    return client_.getUserData(url_, {{"Metadata-Flavor", "Google"}}, true, deadline,
                               {"Metadata-Flavor", "Google"});
  }

 private:
  MetadataClient client_;
  std::string url_;
};

// Alibaba Cloud metadata: the raw user data.
class AlibabaSource : public Source {
 public:
  AlibabaSource(const Config& config, const net::HttpClient& http)
      : client_(config, http), url_(joinUrl(config.alibabaUrl, "/latest/user-data")) {}
  std::string describe() const override { return "Alibaba Cloud metadata " + url_; }
  Result<std::string> fetch(Clock::time_point deadline) override {
    return client_.getUserData(url_, {}, false, deadline);
  }

 private:
  MetadataClient client_;
  std::string url_;
};

// Runs `argv` (PATH searched) and returns its standard output, at most `maxBytes`, within the
// deadline; an exit status other than 0 is an error carrying the status.
Result<std::string> runCommand(const std::vector<std::string>& argv, size_t maxBytes,
                               Clock::time_point deadline) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return fail(Code::kInternal, "pipe failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) ::dup2(devnull, 0), ::dup2(devnull, 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  if (pid < 0) {
    ::close(out[0]);
    return fail(Code::kInternal, "fork failed");
  }
  std::string text;
  bool tooLong = false, late = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      late = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000))) <= 0) continue;
    char buf[16384];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    if (text.size() + static_cast<size_t>(n) > maxBytes) {
      tooLong = true;
      break;
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (late || tooLong) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (late) return fail(Code::kDeadlineExceeded, argv[0] + ": no answer in time");
  if (tooLong)
    return fail(Code::kInvalidArgument,
                argv[0] + ": the answer is larger than " + std::to_string(maxBytes) + " bytes");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return fail(Code::kUnavailable, argv[0] + " exited with status " + std::to_string(code) +
                                        (code == 127 ? " (not installed? it comes with "
                                                       "open-vm-tools)"
                                                     : ""));
  }
  return text;
}

// vSphere guestinfo, as the vsphere provider (and upstream's) sets it in the VM's extraConfig.
class VmwareSource : public Source {
 public:
  explicit VmwareSource(const Config& config) : tool_(config.vmwareRpctool) {}
  std::string describe() const override { return "VMware guestinfo via " + tool_; }
  Result<std::string> fetch(Clock::time_point deadline) override {
    const size_t maxBase64 = kMaxUserDataBytes / 3 * 4 + 64 * 1024;
    auto data = runCommand({tool_, "info-get guestinfo.userdata"}, maxBase64, deadline);
    if (!data) return fail(data.error().wrap("guestinfo.userdata"));
    auto encoding = runCommand({tool_, "info-get guestinfo.userdata.encoding"}, 256, deadline);
    // An unset variable makes the tool fail: no encoding means plain text.
    std::string enc = encoding ? std::string(strings::trim(*encoding)) : std::string();
    std::string text = *data;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (enc == "base64" || enc == "b64") return decodeBase64Body(text, "guestinfo.userdata");
    if (!enc.empty())
      return fail(Code::kInvalidArgument,
                  "guestinfo.userdata.encoding \"" + enc + "\" is not supported (base64, or none)");
    if (text.size() > kMaxUserDataBytes)
      return fail(Code::kInvalidArgument, "guestinfo.userdata is larger than " +
                                              std::to_string(kMaxUserDataBytes) + " bytes");
    return text;
  }

 private:
  std::string tool_;
};

}  // namespace

std::unique_ptr<Source> makeVmwareSource(const Config& config) {
  return std::make_unique<VmwareSource>(config);
}

std::unique_ptr<Source> makeFileSource(const Config& config) {
  return std::make_unique<FileSource>(config);
}
std::unique_ptr<Source> makeDeviceSource(const Config& config, std::string device,
                                         std::string fsType) {
  return std::make_unique<DeviceSource>(config, std::move(device), std::move(fsType));
}
std::unique_ptr<Source> makeAzureSource(const Config& config, const net::HttpClient& http) {
  return std::make_unique<AzureSource>(config, http);
}
std::unique_ptr<Source> makeAwsSource(const Config& config, const net::HttpClient& http) {
  return std::make_unique<AwsSource>(config, http);
}
std::unique_ptr<Source> makeGcpSource(const Config& config, const net::HttpClient& http) {
  return std::make_unique<GcpSource>(config, http);
}
std::unique_ptr<Source> makeAlibabaSource(const Config& config, const net::HttpClient& http) {
  return std::make_unique<AlibabaSource>(config, http);
}

std::unique_ptr<Source> detectSource(const Config& config, const net::HttpClient& http,
                                     Clock::time_point) {
  // lstat: a link (even a dangling one) at the NoCloud path is this source, and refused by it.
  struct stat st {};
  if (::lstat(config.hostPath(kUserDataFile).c_str(), &st) == 0) return makeFileSource(config);
  if (auto dev = findCidataDevice(config.root))
    return makeDeviceSource(config, dev->path, dev->fsType);
  // The cloud is told by the machine itself (CPUID, SMBIOS), never by which metadata address
  // answers: on another network, anyone could answer there.
  const std::string hypervisor =
      config.hypervisorVendor ? *config.hypervisorVendor : cpuidHypervisorVendor();
  const std::string dmiVendor = dmiSystemVendor(config.root);
  const std::string dmiProduct = dmiProductName(config.root);
  log::info(kLog, "no NoCloud user data; hypervisor {}, DMI system vendor {}, product {}",
            hypervisor.empty() ? "none" : log::quote(hypervisor),
            dmiVendor.empty() ? "unknown" : log::quote(dmiVendor),
            dmiProduct.empty() ? "unknown" : log::quote(dmiProduct));
  if (hypervisor == kHypervisorMicrosoft) return makeAzureSource(config, http);
  if (dmiVendor == kDmiVendorAws) return makeAwsSource(config, http);
  if (dmiVendor == kDmiVendorGoogle || dmiProduct == kDmiProductGce)
    return makeGcpSource(config, http);
  if (dmiVendor == kDmiVendorAlibaba) return makeAlibabaSource(config, http);
  if (hypervisor == kHypervisorVmware || dmiVendor == kDmiVendorVmware)
    return makeVmwareSource(config);
  return nullptr;
}

}  // namespace pp::userdata
