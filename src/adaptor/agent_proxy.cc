#include "adaptor/agent_proxy.h"

#include <google/protobuf/unknown_field_set.h>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <filesystem>

#include "base/encoding.h"
#include "base/log.h"
#include "base/metrics.h"
#include "peerpods/agent_edit.pb.h"

namespace pp::adaptor {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kTargetPathAnnotation[] = "io.confidentialcontainers.org.peerpodvolumes.target_path";
constexpr char kGpuAnnotation[] = "io.katacontainers.config.hypervisor.default_gpus";
constexpr char kCdiAnnotation[] = "cdi.k8s.io/peer-pods";

// Like Go's filepath.Clean: lexical normalisation without a trailing slash.
std::string cleanPath(const std::string& p) {
  std::string out = std::filesystem::path(p).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool isDirectory(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// Storage.fstype (field 4), which our view of the message leaves among the
// unknown fields so that the request is re-encoded byte for byte; only the log
// reads it.
std::string storageFstype(const ::peerpods::edit::Storage& s) {
  const auto& unknown = s.GetReflection()->GetUnknownFields(s);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const auto& f = unknown.field(i);
    if (f.number() == 4 && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      return f.length_delimited();
  }
  return {};
}

}  // namespace

Result<std::string> editCreateContainer(std::string_view payload,
                                        const std::string& directVolumesDir,
                                        std::string_view sandboxId) {
  ::peerpods::edit::CreateContainerRequest req;
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail(Code::kInvalidArgument, "CreateContainer: malformed request");
  }
  // Upstream's lines (proxy/service.go), one per storage, that its e2e suite
  // greps for "mount_point:/run/kata-containers/...<cid>...
  // driver:image_guest_pull".
  const log::Sandbox sb(sandboxId);
  log::info("proxy", sb, "CreateContainer: containerID:{}", req.container_id());
  if (req.storages_size() > 0) log::info("proxy", sb, "    storages:");
  for (const auto& s : req.storages()) {
    log::info("proxy", sb, "        mount_point:{} source:{} fstype:{} driver:{}", s.mount_point(),
              s.source(), storageFstype(s), s.driver());
  }
  auto* spec = req.mutable_oci();
  auto* annotations = spec->mutable_annotations();
  std::string targets;
  for (const auto& m : spec->mounts()) {
    std::string source = cleanPath(m.source());
    if (source.find("/volumes/kubernetes.io~csi/") == std::string::npos) continue;
    if (!isDirectory(directVolumesDir + "/" + encoding::base64UrlEncode(source))) continue;
    // Comma-joined without the leading comma upstream produces when the first
    // CSI mount is not the first mount.
    if (!targets.empty()) targets += ",";
    targets += source;
  }
  if (!targets.empty()) (*annotations)[kTargetPathAnnotation] = targets;
  if (auto it = annotations->find(kGpuAnnotation);
      it != annotations->end() && !it->second.empty()) {
    (*annotations)[kCdiAnnotation] = "nvidia.com/gpu=all";
  }
  bool guestPull = false;
  for (const auto& s : req.storages()) guestPull |= s.driver() == "image_guest_pull";
  if (!guestPull) {
    log::warn("proxy", sb,
              "CreateContainer {}: no image_guest_pull storage; the image will "
              "not be pulled in "
              "the guest",
              req.container_id());
  }
  return req.SerializeAsString();
}

std::shared_ptr<AgentProxy> AgentProxy::create(asio::any_io_executor ex,
                                               AgentProxyOptions options) {
  std::shared_ptr<AgentProxy> p(new AgentProxy(std::move(ex), std::move(options)));
  // Handlers hold the proxy weakly: the shim's connections may outlive a
  // shut-down proxy.
  std::weak_ptr<AgentProxy> weak = p;
  p->server_.setFallback([weak](const ttrpc::CallContext& ctx, std::string payload) {
    return relayWeak(weak, ctx, std::move(payload), false);
  });
  p->server_.addMethod("grpc.AgentService", "CreateContainer",
                       [weak](const ttrpc::CallContext& ctx, std::string payload) {
                         return relayWeak(weak, ctx, std::move(payload), true);
                       });
  return p;
}

asio::awaitable<Result<std::string>> AgentProxy::relayWeak(std::weak_ptr<AgentProxy> weak,
                                                           const ttrpc::CallContext& ctx,
                                                           std::string payload,
                                                           bool createContainer) {
  auto self = weak.lock();
  if (!self || self->stopped_) co_return fail(Code::kUnavailable, "agent proxy is shut down");
  if (createContainer) {
    auto edited =
        editCreateContainer(payload, self->options_.directVolumesDir, self->options_.sandboxId);
    if (!edited) co_return fail(edited.error());
    payload = std::move(*edited);
  }
  co_return co_await self->upstream_.relay(ctx, std::move(payload), self->options_.proxyTimeout);
}

namespace {

ttrpc::RedialerOptions upstreamOptions(const AgentProxyOptions& o) {
  ttrpc::RedialerOptions r;
  r.peer = "the pod VM's agent-protocol-forwarder at " + o.vmHost + ":" + std::to_string(o.vmPort);
  r.logComponent = "proxy";
  r.sandboxId = o.sandboxId;
  // A refused dial costs one round trip; a short cap keeps the time between the
  // forwarder listening and the first call small while the VM boots (pod start
  // time).
  r.initialBackoff = 50ms;
  r.maxBackoff = 500ms;
  r.maxJitter = 100ms;
  r.giveUpCode = Code::kDeadlineExceeded;
  r.shutdownMessage = "agent proxy is shut down";
  return r;
}

}  // namespace

AgentProxy::AgentProxy(asio::any_io_executor ex, AgentProxyOptions options)
    : ex_(std::move(ex)),
      options_(std::move(options)),
      upstream_(ex_, upstreamOptions(options_),
                [this](Clock::time_point deadline) { return dial(deadline); }) {}

asio::awaitable<Result<std::unique_ptr<ttrpc::ByteStream>>> AgentProxy::dial(
    Clock::time_point deadline) {
  // Each attempt has the time left, at most 30 s.
  ttrpc::TcpTarget target{options_.vmHost, options_.vmPort, options_.tls, options_.serverName,
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::min<Clock::duration>(deadline - Clock::now(), 30s))};
  auto stream = co_await ttrpc::connectTcp(ex_, target);
  if (stream) {
    // Every connection after the first is a reconnect (the VM's link or
    // forwarder came back).
    static auto& reconnects = metrics::global().counter(
        "peerpods_adaptor_agent_reconnects_total",
        "Connections to a pod VM's forwarder made again after the first one.");
    if (connectedBefore_.exchange(true)) reconnects.with().inc();
  }
  co_return stream;
}

AgentProxy::~AgentProxy() = default;

asio::awaitable<Status> AgentProxy::listenCo() {
  if (listener_) co_return Status{};
  auto self = shared_from_this();
  auto l = ttrpc::listenUnix(ex_, options_.socketPath,
                             [weak = weak_from_this()](std::unique_ptr<ttrpc::ByteStream> s) {
                               if (auto p = weak.lock(); p && !p->stopped_)
                                 p->server_.serveConnection(std::move(s));
                             });
  if (!l) co_return fail(l.error());
  listener_ = std::move(*l);
  co_return Status{};
}

asio::awaitable<Status> AgentProxy::startCo(Clock::time_point readyBy) {
  auto self = shared_from_this();
  log::debug("proxy", "sandbox {}: listening on {}", options_.sandboxId, options_.socketPath);
  if (auto st = co_await listenCo(); !st) co_return st;
  log::debug("proxy", "sandbox {}: dialling {}:{}", options_.sandboxId, options_.vmHost,
             options_.vmPort);
  auto deadline = std::min(readyBy, Clock::now() + options_.proxyTimeout);
  auto c = co_await upstream_.get(deadline);
  if (!c) co_return fail(c.error());
  co_return Status{};
}

std::future<Status> AgentProxy::start(Clock::time_point readyBy) {
  return asio::co_spawn(ex_, startCo(readyBy), asio::use_future);
}

std::future<Status> AgentProxy::listenOnly() {
  return asio::co_spawn(
      ex_, [self = shared_from_this()]() { return self->listenCo(); }, asio::use_future);
}

void AgentProxy::shutdown() {
  auto done = asio::co_spawn(
      ex_,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        self->stopped_ = true;
        if (self->listener_) self->listener_->close();
        self->listener_.reset();
        self->server_.shutdown();
        self->upstream_.shutdown();
        std::error_code ec;
        std::filesystem::remove(self->options_.socketPath, ec);
        co_return;
      },
      asio::use_future);
  done.wait();
}

}  // namespace pp::adaptor
