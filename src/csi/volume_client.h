// PeerpodVolume custom resources in one namespace (the wrappers' --namespace), through the
// Kubernetes REST client: get, create, update (spec and labels), status through the /status
// subresource, delete, and the list by podUid label the podvm wrapper starts with.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "k8s/client.h"

namespace pp::csi {

using Json = nlohmann::json;

inline const k8s::Resource kPeerpodVolumes{"confidentialcontainers.org", "v1alpha1",
                                           "peerpodvolumes"};

class VolumeClient {
 public:
  VolumeClient(std::shared_ptr<const k8s::Client> client, std::string ns)
      : client_(std::move(client)), ns_(std::move(ns)) {}

  const std::string& ns() const { return ns_; }
  const k8s::Client& kube() const { return *client_; }

  Result<Json> get(const std::string& name) const;
  Result<Json> create(const Json& volume) const;
  // PUT of spec and metadata (conditional on metadata.resourceVersion).
  Result<Json> update(const Json& volume) const;
  // PUT /status with status.state = `state` (conditional on metadata.resourceVersion).
  Result<Json> setState(Json volume, const std::string& state) const;
  Status remove(const std::string& name) const;
  Result<Json> listByPodUid(const std::string& podUid) const;

  // Reads the CR, applies `edit` to it, updates the spec (when `edit` changed anything but the
  // status) and then the state; a conflict with another writer reads again (a few times).
  // `edit` returns false to leave the CR alone (the result is then the CR as read).
  Result<Json> modify(const std::string& name, const std::function<bool(Json&)>& edit,
                      const std::string& state) const;

 private:
  std::shared_ptr<const k8s::Client> client_;
  std::string ns_;
};

}  // namespace pp::csi
