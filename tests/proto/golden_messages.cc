#include "golden_messages.h"

#include <stdexcept>

#include "agent/agent.pb.h"
#include "agent/health.pb.h"
#include "agent/oci.pb.h"
#include "hypervisor/hypervisor.pb.h"
#include "ttrpc/request.pb.h"

namespace pp::prototest {
namespace {

// The shim's Health.Check with a 30 s deadline.
std::unique_ptr<google::protobuf::Message> healthCheckRequest() {
  auto req = std::make_unique<ttrpc::Request>();
  req->set_service("grpc.Health");
  req->set_method("Check");
  req->set_timeout_nano(30'000'000'000);
  return req;
}

std::unique_ptr<google::protobuf::Message> healthCheckResponse() {
  auto resp = std::make_unique<grpc::HealthCheckResponse>();
  resp->set_status(grpc::HealthCheckResponse::SERVING);
  return resp;
}

std::string servingPayload() {
  grpc::HealthCheckResponse resp;
  resp.set_status(grpc::HealthCheckResponse::SERVING);
  return resp.SerializeAsString();
}

// A Go ttrpc server leaves status out on success.
std::unique_ptr<google::protobuf::Message> goSuccessResponse() {
  auto resp = std::make_unique<ttrpc::Response>();
  resp->set_payload(servingPayload());
  return resp;
}

// kata-agent's Rust server always sends status {code 0}, which encodes as an empty submessage.
std::unique_ptr<google::protobuf::Message> rustSuccessResponse() {
  auto resp = std::make_unique<ttrpc::Response>();
  resp->mutable_status();
  resp->set_payload(servingPayload());
  return resp;
}

std::unique_ptr<google::protobuf::Message> errorResponse() {
  auto resp = std::make_unique<ttrpc::Response>();
  resp->mutable_status()->set_code(12);
  resp->mutable_status()->set_message("method Foo");
  return resp;
}

std::unique_ptr<google::protobuf::Message> createVmRequest() {
  auto req = std::make_unique<hypervisor::CreateVMRequest>();
  req->set_id("sb1");
  (*req->mutable_annotations())["io.kubernetes.cri.sandbox-name"] = "nginx";
  req->set_networknamespacepath("/var/run/netns/cni-1");
  return req;
}

std::unique_ptr<google::protobuf::Message> createContainerRequest() {
  auto req = std::make_unique<grpc::CreateContainerRequest>();
  req->set_container_id("c1");
  grpc::Spec* spec = req->mutable_oci();
  (*spec->mutable_annotations())["a"] = "b";
  grpc::LinuxNamespace* ns = spec->mutable_linux()->add_namespaces();
  ns->set_type("network");
  ns->set_path("/run/netns/podns");
  return req;
}

// Same as createContainerRequest plus a field (sandbox_pidns) the proxy's edit view omits.
std::unique_ptr<google::protobuf::Message> createContainerRequestPidns() {
  auto req = createContainerRequest();
  static_cast<grpc::CreateContainerRequest&>(*req).set_sandbox_pidns(true);
  return req;
}

std::unique_ptr<google::protobuf::Message> sharedStorage() {
  auto storage = std::make_unique<grpc::Storage>();
  storage->set_driver("image_guest_pull");
  storage->set_shared(true);
  return storage;
}

// proto3 `optional`: an explicit false is sent, unlike a plain proto3 bool.
std::unique_ptr<google::protobuf::Message> memcgDisabledFalse() {
  auto config = std::make_unique<grpc::MemAgentMemcgConfig>();
  config->set_disabled(false);
  return config;
}

std::unique_ptr<google::protobuf::Message> emptyCheckRequest() {
  return std::make_unique<grpc::CheckRequest>();
}

}  // namespace

std::vector<GoldenMessage> goldenMessages() {
  std::vector<GoldenMessage> all;
  all.push_back({"health_check_request", healthCheckRequest()});
  all.push_back({"health_check_response", healthCheckResponse()});
  all.push_back({"response_go_success", goSuccessResponse()});
  all.push_back({"response_rust_success", rustSuccessResponse()});
  all.push_back({"response_error", errorResponse()});
  all.push_back({"create_vm_request", createVmRequest()});
  all.push_back({"create_container_request", createContainerRequest()});
  all.push_back({"create_container_request_pidns", createContainerRequestPidns()});
  all.push_back({"storage_shared", sharedStorage()});
  all.push_back({"memcg_disabled_false", memcgDisabledFalse()});
  all.push_back({"check_request_empty", emptyCheckRequest()});
  return all;
}

std::unique_ptr<google::protobuf::Message> goldenMessage(const std::string& name) {
  for (auto& golden : goldenMessages()) {
    if (golden.name == name) return std::move(golden.message);
  }
  throw std::out_of_range("no golden message " + name);
}

std::string toHex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0x0f]);
  }
  return hex;
}

std::string fromHex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument(std::string("not a hex digit: ") + c);
  };
  std::string bytes;
  int high = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    if (high < 0) {
      high = nibble(c);
    } else {
      bytes.push_back(static_cast<char>(high << 4 | nibble(c)));
      high = -1;
    }
  }
  if (high >= 0) throw std::invalid_argument("odd number of hex digits");
  return bytes;
}

}  // namespace pp::prototest
