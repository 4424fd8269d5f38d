#include "providers/byom/pool_store.h"

#include <chrono>
#include <random>
#include <thread>

#include "base/log.h"

namespace pp::providers::byom {

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

PoolStore::PoolStore(std::shared_ptr<const k8s::Client> client, PoolStoreOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

Result<PoolStore::Raw> PoolStore::readRaw() const {
  Raw raw;
  auto cm = client_->get(k8s::resources::kConfigMaps, options_.ns, options_.name);
  if (!cm && !k8s::isNotFound(cm.error()))
    return fail(cm.error().wrap("byom: reading ConfigMap " + options_.ns + "/" + options_.name));
  raw.snapshot.state = freshState(options_.pool, unixNow());
  if (!cm) return raw;
  raw.object = std::move(*cm);
  const auto data = raw.object.find("data");
  if (data == raw.object.end() || !data->is_object()) return raw;
  if (auto it = data->find(kStateKey); it != data->end() && it->is_string()) {
    auto state = parsePoolState(it->get<std::string>());
    if (!state)
      return fail(state.error().wrap("byom: ConfigMap " + options_.ns + "/" + options_.name));
    raw.snapshot.state = std::move(*state);
    raw.snapshot.present = true;
  }
  if (auto it = data->find(kHostKeysKey); it != data->end() && it->is_string()) {
    auto keys = k8s::Json::parse(it->get<std::string>(), nullptr, false);
    if (keys.is_object()) {
      for (const auto& [ip, fp] : keys.items())
        if (fp.is_string()) raw.snapshot.hostKeys[ip] = fp.get<std::string>();
    } else {
      // Refusing every VM because our own cache is damaged would stop the pool; forgetting
      // it only means trusting each VM's key again.
      log::warn("byom", "ConfigMap {}/{} key {} is not a JSON object; known host keys dropped",
                options_.ns, options_.name, kHostKeysKey);
    }
  }
  return raw;
}

Result<PoolStore::Snapshot> PoolStore::read() const {
  auto raw = readRaw();
  if (!raw) return fail(raw.error());
  return std::move(raw->snapshot);
}

namespace {

constexpr int kMaxTransientFailures = 4;

bool transient(const Error& e) {
  return e.code == Code::kUnavailable || e.code == Code::kInternal ||
         e.code == Code::kResourceExhausted || e.code == Code::kDeadlineExceeded;
}

// A short, growing, jittered pause before the next read.
void pause(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int capMs = std::min(100, 2 * attempt);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(0, capMs)(rng)));
}

}  // namespace

Status PoolStore::update(const Change& change) const {
  int transientFailures = 0;
  Error last(Code::kAborted, "no attempt made");
  for (int attempt = 1; attempt <= options_.maxAttempts; ++attempt) {
    auto raw = readRaw();
    if (!raw) {
      if (transient(raw.error()) && ++transientFailures < kMaxTransientFailures) {
        pause(attempt);
        continue;
      }
      return fail(raw.error());
    }
    bool write = false;
    if (auto st = change(raw->snapshot, write); !st) return st;
    if (!write) return {};
    k8s::Json hostKeys = k8s::Json::object();
    for (const auto& [ip, fp] : raw->snapshot.hostKeys) hostKeys[ip] = fp;
    Result<k8s::Json> written;
    if (raw->object.is_null()) {
      k8s::Json cm = {{"apiVersion", "v1"},
                      {"kind", "ConfigMap"},
                      {"metadata",
                       {{"name", options_.name},
                        {"namespace", options_.ns},
                        {"labels",
                         {{"app.kubernetes.io/name", "cloud-api-adaptor"},
                          {"app.kubernetes.io/component", "byom-ip-pool-state"}}}}},
                      {"data", {{kStateKey, toJson(raw->snapshot.state)}}}};
      if (!raw->snapshot.hostKeys.empty()) cm["data"][kHostKeysKey] = hostKeys.dump();
      written = client_->create(k8s::resources::kConfigMaps, options_.ns, cm);
    } else {
      k8s::Json cm = std::move(raw->object);  // keeps metadata.resourceVersion: conditional
      if (!cm.contains("data") || !cm["data"].is_object()) cm["data"] = k8s::Json::object();
      cm["data"][kStateKey] = toJson(raw->snapshot.state);
      if (!raw->snapshot.hostKeys.empty())
        cm["data"][kHostKeysKey] = hostKeys.dump();
      else
        cm["data"].erase(kHostKeysKey);
      written = client_->update(k8s::resources::kConfigMaps, options_.ns, cm);
    }
    if (written) return {};
    // A write that may have been applied is safe to redo: the retry is conditional on the
    // version read again, so an applied one shows up as a conflict and the change then sees
    // its own result.
    const bool retry = k8s::isConflict(written.error()) || k8s::isAlreadyExists(written.error()) ||
                       (transient(written.error()) && ++transientFailures < kMaxTransientFailures);
    if (!retry)
      return fail(
          written.error().wrap("byom: writing ConfigMap " + options_.ns + "/" + options_.name));
    last = written.error();
    pause(attempt);  // someone else wrote first, or the API server hiccupped
  }
  return fail(Code::kAborted,
              "byom: ConfigMap " + options_.ns + "/" + options_.name + " kept changing under us (" +
                  std::to_string(options_.maxAttempts) + " attempts): " + last.message);
}

}  // namespace pp::providers::byom
