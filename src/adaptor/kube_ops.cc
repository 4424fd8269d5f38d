// The adaptor's Kubernetes operations (see kube_ops.h).
#include "adaptor/kube_ops.h"

#include <fmt/format.h>

#include <random>
#include <set>

#include "base/encoding.h"
#include "base/log.h"
#include "base/utc_time.h"

namespace pp::adaptor {
namespace {

using k8s::Json;
namespace res = k8s::resources;

constexpr size_t kMaxEventMessageBytes = 1024;

// "/" in a JSON pointer segment is "~1", "~" is "~0".
std::string pointerSegment(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::vector<std::string> secretNames(const Json& refs) {
  std::vector<std::string> out;
  if (!refs.is_array()) return out;
  for (const auto& r : refs) {
    if (r.is_object() && r.contains("name") && r["name"].is_string()) out.push_back(r["name"]);
  }
  return out;
}

// One registry entry normalised to {"auth": ...}; nullopt when it holds no credential.
std::optional<std::string> authOf(const Json& entry) {
  if (!entry.is_object()) return std::nullopt;
  if (entry.contains("auth") && entry["auth"].is_string() &&
      !entry["auth"].get<std::string>().empty())
    return entry["auth"].get<std::string>();
  std::string user = entry.contains("username") && entry["username"].is_string()
                         ? entry["username"].get<std::string>()
                         : "";
  std::string pass = entry.contains("password") && entry["password"].is_string()
                         ? entry["password"].get<std::string>()
                         : "";
  if (user.empty() && pass.empty()) return std::nullopt;
  return encoding::base64Encode(user + ":" + pass);
}

}  // namespace

std::string peerPodName(const std::string& podName) {
  // k8s.io/apimachinery's rand.String alphabet (no vowels, no confusable digits).
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<size_t> pick(0, sizeof kAlphabet - 2);
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix += kAlphabet[pick(rng)];
  return podName + "-resource-" + suffix;
}

std::string mergeImagePullSecrets(const std::vector<Json>& secrets,
                                  std::vector<std::string>* skipped) {
  Json auths = Json::object();
  for (const auto& secret : secrets) {
    std::string name = k8s::field(secret, "metadata", "name");
    const Json data = secret.is_object() && secret.contains("data") ? secret["data"] : Json();
    auto decode = [&](const char* key) -> std::optional<Json> {
      if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return std::nullopt;
      auto raw = encoding::base64Decode(data[key].get<std::string>());
      if (!raw) return std::nullopt;
      Json parsed = Json::parse(*raw, nullptr, false);
      if (!parsed.is_object()) return std::nullopt;
      return parsed;
    };
    std::optional<Json> registries;
    if (auto cfg = decode(".dockerconfigjson")) {
      if (cfg->contains("auths") && (*cfg)["auths"].is_object()) registries = (*cfg)["auths"];
    } else if (auto legacy = decode(".dockercfg")) {
      registries = *legacy;  // the old format is the registry map itself
    }
    if (!registries) {
      if (skipped) skipped->push_back(name);
      continue;
    }
    for (const auto& [registry, entry] : registries->items()) {
      if (auto auth = authOf(entry)) auths[registry] = Json{{"auth", *auth}};
    }
  }
  if (auths.empty()) return "";
  return Json{{"auths", auths}}.dump();
}

KubeOps::KubeOps(std::shared_ptr<const k8s::Client> client, KubeOpsOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  poster_ = std::thread([this] { postEvents(); });
}

KubeOps::~KubeOps() {
  flushEvents();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  poster_.join();
}

PodInfo KubeOps::podInfo(const std::string& ns, const std::string& name) {
  PodInfo info;
  auto pod = client_->get(res::kPods, ns, name);
  if (!pod) {
    log::warn("kube", "reading pod {}/{}: {}", ns, name, pod.error().message);
    return info;
  }
  info.uid = k8s::field(*pod, "metadata", "uid");
  const Json spec =
      pod->contains("spec") && (*pod)["spec"].is_object() ? (*pod)["spec"] : Json::object();
  // The service account's secrets first, so that the pod's own ones win for a registry.
  std::vector<std::string> names;
  std::string sa = k8s::stringOf(spec, "serviceAccountName");
  if (sa.empty()) sa = "default";
  if (auto account = client_->get(res::kServiceAccounts, ns, sa)) {
    names = secretNames(account->contains("imagePullSecrets") ? (*account)["imagePullSecrets"]
                                                              : Json());
  } else if (!k8s::isNotFound(account.error())) {
    log::warn("kube", "reading service account {}/{}: {}", ns, sa, account.error().message);
  }
  for (auto& n :
       secretNames(spec.contains("imagePullSecrets") ? spec["imagePullSecrets"] : Json())) {
    names.push_back(n);
  }
  std::vector<Json> secrets;
  std::set<std::string> seen;
  for (const auto& n : names) {
    if (!seen.insert(n).second) continue;
    auto secret = client_->get(res::kSecrets, ns, n);
    if (!secret) {
      log::warn("kube", "reading image-pull secret {}/{}: {}", ns, n, secret.error().message);
      continue;
    }
    secrets.push_back(std::move(*secret));
  }
  std::vector<std::string> skipped;
  info.authJson = mergeImagePullSecrets(secrets, &skipped);
  for (const auto& s : skipped) {
    log::warn("kube", "image-pull secret {}/{} holds no .dockerconfigjson or .dockercfg; ignored",
              ns, s);
  }
  return info;
}

Result<std::string> KubeOps::createPeerPod(const SandboxState& s) {
  std::string uid = s.podUid;
  if (uid.empty()) {
    auto pod = client_->get(res::kPods, s.podNamespace, s.podName);
    if (!pod) return fail(pod.error().wrap("the PeerPod needs its pod as owner"));
    uid = k8s::field(*pod, "metadata", "uid");
  }
  Json body{{"apiVersion", k8s::kPeerPodApiVersion},
            {"kind", "PeerPod"},
            {"metadata",
             {{"namespace", s.podNamespace},
              {"finalizers", {k8s::kPeerPodFinalizer}},
              {"ownerReferences",
               {{{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"name", s.podName},
                 {"uid", uid},
                 {"controller", true},
                 {"blockOwnerDeletion", true}}}}}},
            {"spec", {{"cloudProvider", options_.cloudProvider}, {"instanceID", s.instanceId}}}};
  Error last;
  for (int attempt = 0; attempt < 3; ++attempt) {  // a name collision is retried
    body["metadata"]["name"] = peerPodName(s.podName);
    auto created = client_->create(res::kPeerPods, s.podNamespace, body);
    if (created) {
      std::string name = k8s::field(*created, "metadata", "name");
      log::info("kube", "{}: PeerPod {}/{} guards instance {}", s.id, s.podNamespace, name,
                s.instanceId);
      return name;
    }
    last = created.error();
    if (!k8s::isAlreadyExists(last)) break;
  }
  return fail(std::move(last));
}

Status KubeOps::releasePeerPod(const std::string& ns, const std::string& name) {
  Json patch = Json::array({{{"op", "remove"}, {"path", "/metadata/finalizers"}}});
  auto r = client_->patch(res::kPeerPods, ns, name, k8s::PatchType::kJsonPatch, patch);
  if (r || k8s::isNotFound(r.error())) return {};
  if (r.error().code == Code::kInvalidArgument) {
    // Nothing to remove: someone (peerpod-ctrl) already did.
    auto current = client_->get(res::kPeerPods, ns, name);
    if (!current && k8s::isNotFound(current.error())) return {};
    if (current && !current->at("metadata").contains("finalizers")) return {};
  }
  return fail(r.error());
}

void KubeOps::event(const SandboxState& s, EventType type, const std::string& reason,
                    const std::string& message) {
  std::string text = message.size() > kMaxEventMessageBytes
                         ? message.substr(0, kMaxEventMessageBytes - 3) + "..."
                         : message;
  std::string now = utc::format(std::chrono::system_clock::now());
  Json involved{
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"namespace", s.podNamespace}, {"name", s.podName}};
  if (!s.podUid.empty()) involved["uid"] = s.podUid;
  Json ev{{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", s.podName + "."}, {"namespace", s.podNamespace}}},
          {"involvedObject", involved},
          {"reason", reason},
          {"message", text},
          {"type", type == EventType::kWarning ? "Warning" : "Normal"},
          {"source", {{"component", "cloud-api-adaptor"}}},
          {"reportingComponent", "cloud-api-adaptor"},
          {"firstTimestamp", now},
          {"lastTimestamp", now},
          {"count", 1}};
  // No eventTime: that would make the API server apply the events.k8s.io rules (action etc.).
  if (!options_.nodeName.empty()) {
    ev["source"]["host"] = options_.nodeName;
    ev["reportingInstance"] = options_.nodeName;
  }
  {
    std::lock_guard lock(mu_);
    if (events_.size() >= options_.maxQueuedEvents) {
      log::warn("kube", "{}: event queue full; dropping event {}", s.id, reason);
      return;
    }
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

void KubeOps::postEvents() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !events_.empty(); });
    if (stopping_) {
      if (!events_.empty()) {
        log::warn("kube", "shutting down: {} events not posted", events_.size());
        events_.clear();
      }
      return;
    }
    Json ev = std::move(events_.front());
    events_.pop_front();
    posting_ = true;
    lock.unlock();
    std::string ns = ev["metadata"]["namespace"];
    if (auto r = client_->create(res::kEvents, ns, ev); !r) {
      log::warn("kube", "posting event {} on pod {}/{}: {}", ev["reason"].get<std::string>(), ns,
                ev["involvedObject"]["name"].get<std::string>(), r.error().message);
    }
    lock.lock();
    posting_ = false;
    cv_.notify_all();
  }
}

bool KubeOps::flushEvents(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return (events_.empty() && !posting_) || stopping_; });
}

Status KubeOps::advertiseCapacity(int64_t limit) {
  if (options_.nodeName.empty()) return {};
  if (limit < 0) {
    log::info("kube", "-peerpods-limit-per-node is negative: not advertising {}", kVmResource);
    return {};
  }
  // Dropping the old name makes an adaptor of an earlier release, still stopping, see that it
  // no longer owns the node (its removal tests that annotation).
  Json owner{{"metadata",
              {{"annotations",
                {{kOwnerAnnotation, options_.ownerId}, {kLegacyOwnerAnnotation, nullptr}}}}}};
  if (auto r =
          client_->patch(res::kNodes, "", options_.nodeName, k8s::PatchType::kMergePatch, owner);
      !r) {
    return fail(r.error().wrap("marking node " + options_.nodeName + " as owned by this adaptor"));
  }
  Json add = Json::array({{{"op", "add"},
                           {"path", "/status/capacity/" + pointerSegment(kVmResource)},
                           {"value", std::to_string(limit)}}});
  if (auto r = client_->patch(res::kNodes, "", options_.nodeName, k8s::PatchType::kJsonPatch, add,
                              "status");
      !r) {
    return fail(r.error().wrap(
        fmt::format("advertising {}={} on node {}", kVmResource, limit, options_.nodeName)));
  }
  log::info("kube", "node {} advertises {}={}", options_.nodeName, kVmResource, limit);
  advertised_ = true;
  return {};
}

void KubeOps::withdrawCapacity() {
  if (options_.nodeName.empty() || !advertised_.exchange(false)) return;
  // advertiseCapacity removed the old name, so finding it means an adaptor of an earlier
  // release (a rollback) took the node over after us. JSON Patch cannot test for an absent
  // key, hence the read first; the window until the patch below is one round trip.
  if (auto node = client_->get(res::kNodes, "", options_.nodeName); node) {
    auto annotations = (*node)["metadata"].value("annotations", Json::object());
    if (auto it = annotations.find(kLegacyOwnerAnnotation); it != annotations.end()) {
      log::info("kube",
                "node {}: an earlier adaptor release ({}={}) owns it now; capacity left as is",
                options_.nodeName, kLegacyOwnerAnnotation, it->dump());
      return;
    }
  }
  // The test op makes the removal conditional, in one request, on this adaptor still being
  // the node's owner: a newer adaptor that took over keeps its capacity.
  Json ownerTest{{"op", "test"},
                 {"path", "/metadata/annotations/" + pointerSegment(kOwnerAnnotation)},
                 {"value", options_.ownerId}};
  Json remove = Json::array(
      {ownerTest, {{"op", "remove"}, {"path", "/status/capacity/" + pointerSegment(kVmResource)}}});
  auto r = client_->patch(res::kNodes, "", options_.nodeName, k8s::PatchType::kJsonPatch, remove,
                          "status");
  if (!r) {
    if (r.error().code == Code::kInvalidArgument) {
      log::info("kube", "node {}: another adaptor owns it now (or {} is gone); capacity left as is",
                options_.nodeName, kVmResource);
    } else {
      log::warn("kube", "removing {} from node {}: {}", kVmResource, options_.nodeName,
                r.error().message);
    }
    return;
  }
  Json dropOwner = Json::array(
      {ownerTest,
       {{"op", "remove"}, {"path", "/metadata/annotations/" + pointerSegment(kOwnerAnnotation)}}});
  (void)client_->patch(res::kNodes, "", options_.nodeName, k8s::PatchType::kJsonPatch, dropOwner);
  log::info("kube", "node {}: {} withdrawn", options_.nodeName, kVmResource);
}

}  // namespace pp::adaptor
