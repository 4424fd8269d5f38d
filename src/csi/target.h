// The vendor CSI driver a wrapper forwards to: ONE gRPC channel to its unix socket, made at
// start and reused by every call (upstream dials per call). gRPC reconnects the channel by
// itself when the driver restarts; calls wait for it to be ready (upstream's blocking dial)
// until their deadline.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "base/error.h"
#include "csi/csi.grpc.pb.h"

namespace pp::csi {

// "unix:///csi/csi.sock", "unix:/x", "/csi/csi.sock" -> the socket path ("/csi/csi.sock").
std::string socketPath(std::string endpoint);

// gRPC status <-> pp::Error (the codes are the same numbers).
grpc::Status toGrpc(const Error& e);
Error fromGrpc(const grpc::Status& s, std::string_view what);

class Target {
 public:
  // Replays (no caller with a deadline) wait at most this long for the driver.
  static constexpr std::chrono::seconds kReplayDeadline{120};

  explicit Target(std::string endpoint);

  const std::string& path() const { return path_; }
  ::csi::v1::Identity::Stub& identity() { return *identity_; }
  ::csi::v1::Controller::Stub& controller() { return *controller_; }
  ::csi::v1::Node::Stub& node() { return *node_; }

  // A context for a call made for `incoming` (its deadline; none: kReplayDeadline), or for a
  // replay when `incoming` is null. Waits for the channel to be ready.
  std::unique_ptr<grpc::ClientContext> context(const grpc::ServerContext* incoming) const;

 private:
  std::string path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::csi::v1::Identity::Stub> identity_;
  std::unique_ptr<::csi::v1::Controller::Stub> controller_;
  std::unique_ptr<::csi::v1::Node::Stub> node_;
};

// Pass-through of one unary RPC: `call(clientContext)` on the target's stub.
template <typename Call>
grpc::Status forward(const Target& target, grpc::ServerContext* incoming, Call call) {
  auto ctx = target.context(incoming);
  return call(ctx.get());
}

}  // namespace pp::csi
