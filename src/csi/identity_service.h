// csi.v1.Identity of every wrapper: passed through to the vendor driver.
#pragma once

#include <memory>

#include "csi/target.h"

namespace pp::csi {

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  explicit IdentityService(std::shared_ptr<Target> target) : target_(std::move(target)) {}

  grpc::Status GetPluginInfo(grpc::ServerContext* ctx, const ::csi::v1::GetPluginInfoRequest* req,
                             ::csi::v1::GetPluginInfoResponse* resp) override;
  grpc::Status GetPluginCapabilities(grpc::ServerContext* ctx,
                                     const ::csi::v1::GetPluginCapabilitiesRequest* req,
                                     ::csi::v1::GetPluginCapabilitiesResponse* resp) override;
  grpc::Status Probe(grpc::ServerContext* ctx, const ::csi::v1::ProbeRequest* req,
                     ::csi::v1::ProbeResponse* resp) override;

 private:
  std::shared_ptr<Target> target_;
};

}  // namespace pp::csi
