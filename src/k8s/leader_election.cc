// Lease-based leader election (see leader_election.h).
#include "k8s/leader_election.h"

#include <fmt/format.h>

#include <condition_variable>
#include <ctime>
#include <mutex>

#include "base/log.h"

namespace pp::k8s {
namespace {

bool sleepFor(std::stop_token stop, std::chrono::milliseconds d) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace

std::string microTimeNow() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06d}Z", buf, ts.tv_nsec / 1000);
}

LeaderElector::LeaderElector(const Client& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

Result<bool> LeaderElector::tryAcquireOrRenew() {
  std::string now = microTimeNow();
  auto leaseSeconds = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options_.leaseDuration).count());
  auto current = client_.get(resources::kLeases, options_.ns, options_.name);
  if (!current) {
    if (!isNotFound(current.error())) return fail(current.error());
    Json lease{{"apiVersion", "coordination.k8s.io/v1"},
               {"kind", "Lease"},
               {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}},
               {"spec",
                {{"holderIdentity", options_.identity},
                 {"leaseDurationSeconds", leaseSeconds},
                 {"acquireTime", now},
                 {"renewTime", now},
                 {"leaseTransitions", 0}}}};
    auto created = client_.create(resources::kLeases, options_.ns, lease);
    if (!created) {
      if (isAlreadyExists(created.error())) return false;
      return fail(created.error());
    }
    observedHolder_ = options_.identity;
    observedRenewTime_ = now;
    observedAt_ = std::chrono::steady_clock::now();
    return true;
  }
  Json lease = *current;
  std::string holder = field(lease, "spec", "holderIdentity");
  std::string renewTime = field(lease, "spec", "renewTime");
  auto steadyNow = std::chrono::steady_clock::now();
  if (holder != observedHolder_ || renewTime != observedRenewTime_) {
    observedHolder_ = holder;
    observedRenewTime_ = renewTime;
    observedAt_ = steadyNow;
  }
  std::chrono::milliseconds duration = options_.leaseDuration;
  if (lease.contains("spec") && lease["spec"].is_object() &&
      lease["spec"].contains("leaseDurationSeconds") &&
      lease["spec"]["leaseDurationSeconds"].is_number_integer()) {
    duration = std::chrono::seconds(lease["spec"]["leaseDurationSeconds"].get<int64_t>());
  }
  if (!holder.empty() && holder != options_.identity && steadyNow < observedAt_ + duration) {
    return false;  // another candidate holds a live lease
  }
  if (!lease.contains("spec") || !lease["spec"].is_object()) lease["spec"] = Json::object();
  Json& spec = lease["spec"];
  if (holder != options_.identity) {
    spec["acquireTime"] = now;
    int64_t transitions =
        spec.contains("leaseTransitions") && spec["leaseTransitions"].is_number_integer()
            ? spec["leaseTransitions"].get<int64_t>()
            : 0;
    spec["leaseTransitions"] = transitions + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = leaseSeconds;
  spec["renewTime"] = now;
  auto updated = client_.update(resources::kLeases, options_.ns, lease);
  if (!updated) {
    if (isConflict(updated.error())) return false;  // someone else wrote first
    return fail(updated.error());
  }
  observedHolder_ = options_.identity;
  observedRenewTime_ = now;
  observedAt_ = std::chrono::steady_clock::now();
  return true;
}

bool LeaderElector::acquire(std::stop_token stop) {
  log::info("leader", "{} waiting for lease {}/{}", options_.identity, options_.ns, options_.name);
  while (!stop.stop_requested()) {
    auto r = tryAcquireOrRenew();
    if (r && *r) {
      log::info("leader", "{} acquired lease {}/{}", options_.identity, options_.ns, options_.name);
      return true;
    }
    if (!r) log::warn("leader", "lease {}/{}: {}", options_.ns, options_.name, r.error().message);
    if (!sleepFor(stop, options_.retryPeriod)) break;
  }
  return false;
}

bool LeaderElector::hold(std::stop_token stop) {
  auto lastRenew = std::chrono::steady_clock::now();
  while (sleepFor(stop, options_.retryPeriod)) {
    auto r = tryAcquireOrRenew();
    if (r && *r) {
      lastRenew = std::chrono::steady_clock::now();
      continue;
    }
    if (r && !*r && observedHolder_ != options_.identity && !observedHolder_.empty()) {
      log::error("leader", "lease {}/{} was taken over by {}", options_.ns, options_.name,
                 observedHolder_);
      return false;
    }
    if (!r)
      log::warn("leader", "renewing lease {}/{}: {}", options_.ns, options_.name,
                r.error().message);
    if (std::chrono::steady_clock::now() - lastRenew > options_.renewDeadline) {
      log::error("leader", "could not renew lease {}/{} for {} ms", options_.ns, options_.name,
                 options_.renewDeadline.count());
      return false;
    }
  }
  return true;
}

void LeaderElector::release() {
  auto current = client_.get(resources::kLeases, options_.ns, options_.name);
  if (!current || field(*current, "spec", "holderIdentity") != options_.identity) return;
  Json lease = *current;
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = microTimeNow();
  if (auto r = client_.update(resources::kLeases, options_.ns, lease); !r) {
    log::warn("leader", "releasing lease {}/{}: {}", options_.ns, options_.name, r.error().message);
    return;
  }
  log::info("leader", "{} released lease {}/{}", options_.identity, options_.ns, options_.name);
}

}  // namespace pp::k8s
