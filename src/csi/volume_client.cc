#include "csi/volume_client.h"

#include <chrono>
#include <thread>

#include "base/log.h"

namespace pp::csi {

Result<Json> VolumeClient::get(const std::string& name) const {
  return client_->get(kPeerpodVolumes, ns_, name);
}

Result<Json> VolumeClient::create(const Json& volume) const {
  return client_->create(kPeerpodVolumes, ns_, volume);
}

Result<Json> VolumeClient::update(const Json& volume) const {
  return client_->update(kPeerpodVolumes, ns_, volume);
}

Result<Json> VolumeClient::setState(Json volume, const std::string& state) const {
  volume["status"] = Json{{"state", state}};
  return client_->update(kPeerpodVolumes, ns_, volume, "status");
}

Status VolumeClient::remove(const std::string& name) const {
  auto r = client_->remove(kPeerpodVolumes, ns_, name);
  if (!r) return fail(r.error());
  return {};
}

Result<Json> VolumeClient::listByPodUid(const std::string& podUid) const {
  return client_->list(kPeerpodVolumes, ns_, {.labelSelector = "podUid=" + podUid});
}

Result<Json> VolumeClient::modify(const std::string& name, const std::function<bool(Json&)>& edit,
                                  const std::string& state) const {
  for (int attempt = 0;; ++attempt) {
    auto current = get(name);
    if (!current) return current;
    Json edited = *current;
    if (!edit(edited)) return current;
    Json stored = *current;
    Json withoutStatus = edited, before = *current;
    withoutStatus.erase("status");
    before.erase("status");
    Result<Json> r = stored;
    if (withoutStatus != before) r = update(edited);
    if (r) r = setState(*r, state);
    if (r) return r;
    if (!k8s::isConflict(r.error()) || attempt >= 4) return r;
    log::debug("csi", "PeerpodVolume {}/{} changed meanwhile, reading it again", ns_, name);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 * (attempt + 1)));
  }
}

}  // namespace pp::csi
