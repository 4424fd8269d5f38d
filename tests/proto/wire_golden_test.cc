// Golden byte vectors for the messages the adaptor exchanges with the shim and the kata-agent.
// Every vector was worked out by hand from the protobuf encoding rules (tag = field << 3 | wire
// type; varints little-endian base 128; length-delimited = tag, length, bytes; map entry =
// {key = 1, value = 2}), and the ttrpc ones match the bytes the Go ttrpc client sends for the
// shim's Health.Check (checked against it in tests/interop).
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "agent/agent.pb.h"
#include "agent/health.pb.h"
#include "agent/oci.pb.h"
#include "golden_messages.h"
#include "hypervisor/hypervisor.pb.h"
#include "peerpods/agent_edit.pb.h"
#include "ttrpc/request.pb.h"

namespace pp::prototest {
namespace {

using google::protobuf::util::MessageDifferencer;

// The expected encoding of each golden message, keyed by its name in golden_messages.cc.
const std::map<std::string, std::string>& vectors() {
  static const std::map<std::string, std::string> kVectors = {
      // 0a 0b service, 12 05 method, 20 <varint 30000000000 = 80 d8 8e e1 6f>: 26 bytes.
      {"health_check_request", fromHex("0a 0b") + "grpc.Health" + fromHex("12 05") + "Check" +
                                   fromHex("20 80 d8 8e e1 6f")},
      // status = 1 (enum varint) SERVING.
      {"health_check_response", fromHex("08 01")},
      // Go server: status omitted, payload = 2.
      {"response_go_success", fromHex("12 02 08 01")},
      // Rust server: an empty status submessage first.
      {"response_rust_success", fromHex("0a 00 12 02 08 01")},
      // status {code 12, message "method Foo"} = 14 bytes.
      {"response_error", fromHex("0a 0e 08 0c 12 0a") + "method Foo"},
      // id "sb1"; annotations entry of 39 bytes (30-byte key, 5-byte value); 20-byte netns path.
      {"create_vm_request", fromHex("0a 03") + "sb1" + fromHex("12 27 0a 1e") +
                                "io.kubernetes.cri.sandbox-name" + fromHex("12 05") + "nginx" +
                                fromHex("1a 14") + "/var/run/netns/cni-1"},
      // container_id "c1"; OCI (6) Spec of 39 bytes = Annotations (7) {a: b} + Linux (8) of 29
      // bytes = Namespaces (6) LinuxNamespace of 27 bytes {Type "network", Path 16 bytes}.
      {"create_container_request",
       fromHex("0a 02") + "c1" + fromHex("32 27") + fromHex("3a 06 0a 01 61 12 01 62") +
           fromHex("42 1d 32 1b 0a 07") + "network" + fromHex("12 10") + "/run/netns/podns"},
      // ... followed by sandbox_pidns (7) = true.
      {"create_container_request_pidns",
       fromHex("0a 02") + "c1" + fromHex("32 27") + fromHex("3a 06 0a 01 61 12 01 62") +
           fromHex("42 1d 32 1b 0a 07") + "network" + fromHex("12 10") + "/run/netns/podns" +
           fromHex("38 01")},
      // driver (1) "image_guest_pull"; shared (8) = true: tag 8 << 3 | 0 = 0x40.
      {"storage_shared", fromHex("0a 10") + "image_guest_pull" + fromHex("40 01")},
      // An explicitly set proto3 optional false is on the wire.
      {"memcg_disabled_false", fromHex("08 00")},
      // CheckRequest{service: ""} is empty.
      {"check_request_empty", ""},
  };
  return kVectors;
}

std::string encode(const google::protobuf::Message& message) {
  std::string bytes;
  EXPECT_TRUE(message.SerializeToString(&bytes));
  return bytes;
}

TEST(ProtoWireGolden, EveryGoldenMessageHasAVectorAndViceVersa) {
  auto all = goldenMessages();
  EXPECT_EQ(all.size(), vectors().size());
  for (const auto& golden : all) {
    EXPECT_TRUE(vectors().contains(golden.name)) << golden.name;
  }
}

TEST(ProtoWireGolden, EncodingMatchesHandComputedBytes) {
  for (const auto& golden : goldenMessages()) {
    SCOPED_TRACE(golden.name);
    EXPECT_EQ(toHex(encode(*golden.message)), toHex(vectors().at(golden.name)));
  }
}

TEST(ProtoWireGolden, DecodingGivesBackTheSameMessage) {
  for (const auto& golden : goldenMessages()) {
    SCOPED_TRACE(golden.name);
    std::unique_ptr<google::protobuf::Message> decoded(golden.message->New());
    ASSERT_TRUE(decoded->ParseFromString(vectors().at(golden.name)));
    EXPECT_TRUE(MessageDifferencer::Equals(*golden.message, *decoded))
        << decoded->ShortDebugString();
  }
}

TEST(ProtoWireGolden, HealthCheckRequestIsTheWorkedExample) {
  const std::string& data = vectors().at("health_check_request");
  // The frame header announces 0x1a bytes of data.
  EXPECT_EQ(data.size(), 0x1au);
  ttrpc::Request req;
  ASSERT_TRUE(req.ParseFromString(data));
  EXPECT_EQ(req.service(), "grpc.Health");
  EXPECT_EQ(req.method(), "Check");
  EXPECT_EQ(req.timeout_nano(), 30'000'000'000);
  EXPECT_TRUE(req.payload().empty());
  EXPECT_EQ(req.metadata_size(), 0);
}

TEST(ProtoWireGolden, ResponsesDecodeAsOkOrError) {
  ttrpc::Response go;
  ASSERT_TRUE(go.ParseFromString(vectors().at("response_go_success")));
  EXPECT_FALSE(go.has_status());
  grpc::HealthCheckResponse health;
  ASSERT_TRUE(health.ParseFromString(go.payload()));
  EXPECT_EQ(health.status(), grpc::HealthCheckResponse::SERVING);

  ttrpc::Response rust;
  ASSERT_TRUE(rust.ParseFromString(vectors().at("response_rust_success")));
  EXPECT_TRUE(rust.has_status());
  EXPECT_EQ(rust.status().code(), 0);
  EXPECT_EQ(rust.payload(), go.payload());

  ttrpc::Response error;
  ASSERT_TRUE(error.ParseFromString(vectors().at("response_error")));
  EXPECT_EQ(error.status().code(), 12);
  EXPECT_EQ(error.status().message(), "method Foo");
  EXPECT_TRUE(error.payload().empty());
}

TEST(ProtoWireGolden, CreateVmRequestFields) {
  hypervisor::CreateVMRequest req;
  ASSERT_TRUE(req.ParseFromString(vectors().at("create_vm_request")));
  EXPECT_EQ(req.id(), "sb1");
  ASSERT_EQ(req.annotations_size(), 1);
  EXPECT_EQ(req.annotations().at("io.kubernetes.cri.sandbox-name"), "nginx");
  EXPECT_EQ(req.networknamespacepath(), "/var/run/netns/cni-1");
}

TEST(ProtoWireGolden, CreateContainerRequestFields) {
  grpc::CreateContainerRequest req;
  ASSERT_TRUE(req.ParseFromString(vectors().at("create_container_request")));
  EXPECT_EQ(req.container_id(), "c1");
  EXPECT_EQ(req.oci().annotations().at("a"), "b");
  ASSERT_EQ(req.oci().linux().namespaces_size(), 1);
  EXPECT_EQ(req.oci().linux().namespaces(0).type(), "network");
  EXPECT_EQ(req.oci().linux().namespaces(0).path(), "/run/netns/podns");
  EXPECT_FALSE(req.sandbox_pidns());
}

TEST(ProtoWireGolden, StorageSharedAndOptionalPresence) {
  grpc::Storage storage;
  ASSERT_TRUE(storage.ParseFromString(vectors().at("storage_shared")));
  EXPECT_EQ(storage.driver(), "image_guest_pull");
  EXPECT_TRUE(storage.shared());

  grpc::MemAgentMemcgConfig config;
  ASSERT_TRUE(config.ParseFromString(vectors().at("memcg_disabled_false")));
  EXPECT_TRUE(config.has_disabled());
  EXPECT_FALSE(config.disabled());
  EXPECT_FALSE(config.has_swap());
}

// The proxy decodes CreateContainer with the partial view in peerpods/agent_edit.proto. Fields it
// does not declare must survive an edit unchanged, and an unedited message must re-encode to the
// very same bytes.
TEST(ProtoWireGolden, EditViewKeepsUndeclaredFields) {
  const std::string& original = vectors().at("create_container_request_pidns");
  peerpods::edit::CreateContainerRequest view;
  ASSERT_TRUE(view.ParseFromString(original));
  EXPECT_EQ(view.container_id(), "c1");
  EXPECT_EQ(view.oci().annotations().at("a"), "b");
  EXPECT_EQ(toHex(encode(view)), toHex(original));

  auto* ns = view.mutable_oci()->mutable_linux()->add_namespaces();
  ns->set_type("ipc");
  (*view.mutable_oci()->mutable_annotations())["cdi.k8s.io/peer-pods"] = "nvidia.com/gpu=all";

  grpc::CreateContainerRequest full;
  ASSERT_TRUE(full.ParseFromString(encode(view)));
  EXPECT_TRUE(full.sandbox_pidns());
  ASSERT_EQ(full.oci().linux().namespaces_size(), 2);
  EXPECT_EQ(full.oci().linux().namespaces(0).path(), "/run/netns/podns");
  EXPECT_EQ(full.oci().linux().namespaces(1).type(), "ipc");
  EXPECT_EQ(full.oci().annotations().at("cdi.k8s.io/peer-pods"), "nvidia.com/gpu=all");
  EXPECT_EQ(full.oci().annotations().at("a"), "b");
}

// A 3.23.0 agent knows no Storage.shared; it must skip field 8 without error.
TEST(ProtoWireGolden, UnknownFieldIsSkippedByAnOlderReader) {
  peerpods::edit::Storage older;
  ASSERT_TRUE(older.ParseFromString(vectors().at("storage_shared")));
  EXPECT_EQ(older.driver(), "image_guest_pull");
}

}  // namespace
}  // namespace pp::prototest
