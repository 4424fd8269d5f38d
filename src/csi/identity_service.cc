#include "csi/identity_service.h"

namespace pp::csi {

grpc::Status IdentityService::GetPluginInfo(grpc::ServerContext* ctx,
                                            const ::csi::v1::GetPluginInfoRequest* req,
                                            ::csi::v1::GetPluginInfoResponse* resp) {
  return forward(*target_, ctx, [&](grpc::ClientContext* c) {
    return target_->identity().GetPluginInfo(c, *req, resp);
  });
}

grpc::Status IdentityService::GetPluginCapabilities(
    grpc::ServerContext* ctx, const ::csi::v1::GetPluginCapabilitiesRequest* req,
    ::csi::v1::GetPluginCapabilitiesResponse* resp) {
  return forward(*target_, ctx, [&](grpc::ClientContext* c) {
    return target_->identity().GetPluginCapabilities(c, *req, resp);
  });
}

grpc::Status IdentityService::Probe(grpc::ServerContext* ctx, const ::csi::v1::ProbeRequest* req,
                                    ::csi::v1::ProbeResponse* resp) {
  return forward(*target_, ctx,
                 [&](grpc::ClientContext* c) { return target_->identity().Probe(c, *req, resp); });
}

}  // namespace pp::csi
