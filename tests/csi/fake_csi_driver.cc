#include "fake_csi_driver.h"

#include <cstdio>
#include <filesystem>

namespace pp::testing {

namespace {

using grpc::ServerContext;
using grpc::Status;
namespace v1 = ::csi::v1;

std::map<std::string, std::string> toMap(const google::protobuf::Map<std::string, std::string>& m) {
  return {m.begin(), m.end()};
}

class Identity final : public v1::Identity::Service {
 public:
  explicit Identity(FakeCsiDriver* d) : d_(d) {}
  Status GetPluginInfo(ServerContext*, const v1::GetPluginInfoRequest*,
                       v1::GetPluginInfoResponse* resp) override {
    d_->record({.method = "GetPluginInfo"});
    resp->set_name("fake.csi.peerpods.io");
    resp->set_vendor_version("1.0.0");
    return Status::OK;
  }
  Status GetPluginCapabilities(ServerContext*, const v1::GetPluginCapabilitiesRequest*,
                               v1::GetPluginCapabilitiesResponse* resp) override {
    d_->record({.method = "GetPluginCapabilities"});
    resp->add_capabilities()->mutable_service()->set_type(
        v1::PluginCapability::Service::CONTROLLER_SERVICE);
    return Status::OK;
  }
  Status Probe(ServerContext*, const v1::ProbeRequest*, v1::ProbeResponse* resp) override {
    d_->record({.method = "Probe"});
    resp->mutable_ready()->set_value(true);
    return Status::OK;
  }

 private:
  FakeCsiDriver* d_;
};

class Controller final : public v1::Controller::Service {
 public:
  explicit Controller(FakeCsiDriver* d) : d_(d) {}
  Status CreateVolume(ServerContext*, const v1::CreateVolumeRequest* req,
                      v1::CreateVolumeResponse* resp) override {
    d_->record(
        {.method = "CreateVolume", .name = req->name(), .parameters = toMap(req->parameters())});
    resp->mutable_volume()->set_volume_id(d_->options().volumeIdPrefix + req->name());
    resp->mutable_volume()->set_capacity_bytes(req->capacity_range().required_bytes());
    return Status::OK;
  }
  Status DeleteVolume(ServerContext*, const v1::DeleteVolumeRequest* req,
                      v1::DeleteVolumeResponse*) override {
    d_->record({.method = "DeleteVolume", .volumeId = req->volume_id()});
    return Status::OK;
  }
  Status ControllerPublishVolume(ServerContext*, const v1::ControllerPublishVolumeRequest* req,
                                 v1::ControllerPublishVolumeResponse* resp) override {
    d_->record({.method = "ControllerPublishVolume",
                .volumeId = req->volume_id(),
                .nodeId = req->node_id()});
    (*resp->mutable_publish_context())["device-path"] = d_->options().devicePath;
    return Status::OK;
  }
  Status ControllerUnpublishVolume(ServerContext*, const v1::ControllerUnpublishVolumeRequest* req,
                                   v1::ControllerUnpublishVolumeResponse*) override {
    d_->record({.method = "ControllerUnpublishVolume",
                .volumeId = req->volume_id(),
                .nodeId = req->node_id()});
    return Status::OK;
  }
  Status ControllerGetCapabilities(ServerContext*, const v1::ControllerGetCapabilitiesRequest*,
                                   v1::ControllerGetCapabilitiesResponse* resp) override {
    d_->record({.method = "ControllerGetCapabilities"});
    resp->add_capabilities()->mutable_rpc()->set_type(
        v1::ControllerServiceCapability::RPC::PUBLISH_UNPUBLISH_VOLUME);
    return Status::OK;
  }

 private:
  FakeCsiDriver* d_;
};

class Node final : public v1::Node::Service {
 public:
  explicit Node(FakeCsiDriver* d) : d_(d) {}
  Status NodeStageVolume(ServerContext*, const v1::NodeStageVolumeRequest* req,
                         v1::NodeStageVolumeResponse*) override {
    d_->record({.method = "NodeStageVolume",
                .volumeId = req->volume_id(),
                .stagingTargetPath = req->staging_target_path(),
                .publishContext = toMap(req->publish_context())});
    return Status::OK;
  }
  Status NodeUnstageVolume(ServerContext*, const v1::NodeUnstageVolumeRequest* req,
                           v1::NodeUnstageVolumeResponse*) override {
    d_->record({.method = "NodeUnstageVolume",
                .volumeId = req->volume_id(),
                .stagingTargetPath = req->staging_target_path()});
    return Status::OK;
  }
  Status NodePublishVolume(ServerContext*, const v1::NodePublishVolumeRequest* req,
                           v1::NodePublishVolumeResponse*) override {
    d_->record({.method = "NodePublishVolume",
                .volumeId = req->volume_id(),
                .stagingTargetPath = req->staging_target_path(),
                .targetPath = req->target_path(),
                .publishContext = toMap(req->publish_context())});
    return Status::OK;
  }
  Status NodeUnpublishVolume(ServerContext*, const v1::NodeUnpublishVolumeRequest* req,
                             v1::NodeUnpublishVolumeResponse*) override {
    d_->record({.method = "NodeUnpublishVolume",
                .volumeId = req->volume_id(),
                .targetPath = req->target_path()});
    return Status::OK;
  }
  Status NodeGetInfo(ServerContext*, const v1::NodeGetInfoRequest*,
                     v1::NodeGetInfoResponse* resp) override {
    d_->record({.method = "NodeGetInfo"});
    resp->set_node_id("worker-1");
    return Status::OK;
  }

 private:
  FakeCsiDriver* d_;
};

}  // namespace

std::string CsiCall::toString() const {
  std::string s = method;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) s += std::string(" ") + k + "=" + v;
  };
  add("volume_id", volumeId);
  add("node_id", nodeId);
  add("name", name);
  add("staging_target_path", stagingTargetPath);
  add("target_path", targetPath);
  auto addMap = [&](const char* k, const std::map<std::string, std::string>& m) {
    if (m.empty()) return;
    s += std::string(" ") + k + "={";
    bool first = true;
    for (const auto& [a, b] : m) {
      s += (first ? "" : ",") + a + ":" + b;
      first = false;
    }
    s += "}";
  };
  addMap("parameters", parameters);
  addMap("publish_context", publishContext);
  return s;
}

std::unique_ptr<FakeCsiDriver> FakeCsiDriver::start(const std::string& socketPath,
                                                    Options options) {
  std::unique_ptr<FakeCsiDriver> d(new FakeCsiDriver(std::move(options)));
  std::error_code ec;
  std::filesystem::remove(socketPath, ec);
  d->services_.push_back(std::make_unique<Identity>(d.get()));
  d->services_.push_back(std::make_unique<Controller>(d.get()));
  d->services_.push_back(std::make_unique<Node>(d.get()));
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socketPath, grpc::InsecureServerCredentials());
  for (auto& s : d->services_) builder.RegisterService(s.get());
  d->server_ = builder.BuildAndStart();
  if (!d->server_) return nullptr;
  return d;
}

FakeCsiDriver::~FakeCsiDriver() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

void FakeCsiDriver::record(CsiCall call) {
  std::lock_guard lock(mu_);
  std::printf("[vendor %s] %s\n", options_.label.c_str(), call.toString().c_str());
  std::fflush(stdout);
  calls_.push_back(std::move(call));
}

std::vector<CsiCall> FakeCsiDriver::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

std::vector<std::string> FakeCsiDriver::methods() const {
  std::vector<std::string> out;
  for (const auto& c : calls()) out.push_back(c.method);
  return out;
}

std::vector<CsiCall> FakeCsiDriver::callsOf(const std::string& method) const {
  std::vector<CsiCall> out;
  for (const auto& c : calls()) {
    if (c.method == method) out.push_back(c);
  }
  return out;
}

}  // namespace pp::testing
