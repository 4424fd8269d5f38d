#include "csi/target.h"

namespace pp::csi {

std::string socketPath(std::string endpoint) {
  for (std::string_view prefix : {"unix://", "unix:"}) {
    if (endpoint.size() > prefix.size() && endpoint.compare(0, prefix.size(), prefix) == 0) {
      return endpoint.substr(prefix.size());
    }
  }
  return endpoint;
}

grpc::Status toGrpc(const Error& e) {
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(e.code)), e.message);
}

Error fromGrpc(const grpc::Status& s, std::string_view what) {
  return Error(static_cast<Code>(static_cast<int>(s.error_code())),
               std::string(what) + ": " + s.error_message());
}

Target::Target(std::string endpoint) : path_(socketPath(std::move(endpoint))) {
  grpc::ChannelArguments args;
  // Reconnect quickly after the driver restarts (the default backoff grows to 2 minutes).
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  channel_ = grpc::CreateCustomChannel("unix:" + path_, grpc::InsecureChannelCredentials(), args);
  identity_ = ::csi::v1::Identity::NewStub(channel_);
  controller_ = ::csi::v1::Controller::NewStub(channel_);
  node_ = ::csi::v1::Node::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Target::context(const grpc::ServerContext* incoming) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_wait_for_ready(true);
  auto deadline = std::chrono::system_clock::now() + kReplayDeadline;
  if (incoming != nullptr && incoming->deadline() < std::chrono::system_clock::time_point::max()) {
    deadline = incoming->deadline();
  }
  ctx->set_deadline(deadline);
  return ctx;
}

}  // namespace pp::csi
