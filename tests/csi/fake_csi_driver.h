// A fake vendor CSI driver for tests: Identity, Controller and Node over gRPC on a unix socket,
// recording every call it gets (method and the fields the wrappers rewrite). CreateVolume
// answers volume_id = `volumeIdPrefix` + the request's name; ControllerPublishVolume answers
// the publish context {"device-path": devicePath}; everything else answers OK.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "csi/csi.grpc.pb.h"

namespace pp::testing {

struct CsiCall {
  std::string method;
  std::string volumeId;
  std::string nodeId;
  std::string stagingTargetPath;
  std::string targetPath;
  std::string name;                                   // CreateVolume
  std::map<std::string, std::string> parameters;      // CreateVolume
  std::map<std::string, std::string> publishContext;  // NodeStage/NodePublish
  std::string toString() const;
};

class FakeCsiDriver {
 public:
  struct Options {
    std::string label;  // names the driver in the call log
    std::string volumeIdPrefix = "vol-";
    std::string devicePath = "/dev/xvdf";
  };
  static std::unique_ptr<FakeCsiDriver> start(const std::string& socketPath, Options options);
  ~FakeCsiDriver();

  std::vector<CsiCall> calls() const;
  std::vector<std::string> methods() const;
  // The calls of `method`.
  std::vector<CsiCall> callsOf(const std::string& method) const;

  // Internal: the services record through this.
  void record(CsiCall call);
  const Options& options() const { return options_; }

 private:
  explicit FakeCsiDriver(Options options) : options_(std::move(options)) {}
  Options options_;
  mutable std::mutex mu_;
  std::vector<CsiCall> calls_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace pp::testing
