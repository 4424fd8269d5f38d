#include "ttrpc/peek.h"

#include <gtest/gtest.h>

#include "ttrpc/envelope.h"
#include "ttrpc/request.pb.h"

namespace pp::ttrpc {
namespace {

::ttrpc::Request sampleRequest() {
  ::ttrpc::Request req;
  req.set_service("grpc.AgentService");
  req.set_method("ExecProcess");
  req.set_payload(
      std::string("\x0a\x03"
                  "abc\x12\x00",
                  7));
  req.set_timeout_nano(30'000'000'000);
  auto* kv = req.add_metadata();
  kv->set_key("traceparent");
  kv->set_value("00-1-2-01");
  return req;
}

TEST(PeekTest, RequestFieldsAsProtobufDecodesThem) {
  const std::string body = sampleRequest().SerializeAsString();
  RequestHead head;
  ASSERT_TRUE(peekRequest(body, &head));
  EXPECT_EQ(head.service, "grpc.AgentService");
  EXPECT_EQ(head.method, "ExecProcess");
  EXPECT_EQ(head.timeoutNano, 30'000'000'000);
  // Views into the body, not copies.
  EXPECT_GE(head.service.data(), body.data());
  EXPECT_LT(head.method.data(), body.data() + body.size());

  // Our own encoder, no timeout: zero.
  const std::string ours = encodeRequest("grpc.Health", "Check", "", 0, {});
  ASSERT_TRUE(peekRequest(ours, &head));
  EXPECT_EQ(head.service, "grpc.Health");
  EXPECT_EQ(head.method, "Check");
  EXPECT_EQ(head.timeoutNano, 0);
}

TEST(PeekTest, FieldOrderRepeatsAndUnknownFieldsAsProtobuf) {
  // Method first, service twice (the last wins), a negative timeout (ten-byte varint) and
  // unknown fields of every wire type protobuf keeps: varint, 64-bit, bytes, 32-bit.
  std::string body;
  body += std::string(
      "\x12\x04"
      "Wait",
      6);
  body += std::string(
      "\x0a\x01"
      "x",
      3);
  body += std::string("\x30\x96\x01", 3);  // field 6, varint 150
  body += std::string(
      "\x39"
      "12345678",
      9);  // field 7, fixed64
  body += std::string(
      "\x42\x02"
      "hi",
      4);  // field 8, bytes
  body += std::string(
      "\x4d"
      "1234",
      5);  // field 9, fixed32
  body += std::string(
      "\x0a\x03"
      "svc",
      5);
  body += std::string("\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);  // -1
  ::ttrpc::Request ref;
  ASSERT_TRUE(ref.ParseFromString(body));
  RequestHead head;
  ASSERT_TRUE(peekRequest(body, &head));
  EXPECT_EQ(head.service, ref.service());
  EXPECT_EQ(head.method, ref.method());
  EXPECT_EQ(head.timeoutNano, ref.timeout_nano());
  EXPECT_EQ(head.timeoutNano, -1);
}

TEST(PeekTest, EveryTruncationIsRefusedOrReadAsProtobufReadsIt) {
  const std::string body = sampleRequest().SerializeAsString();
  for (size_t n = 0; n <= body.size(); ++n) {
    const std::string cut = body.substr(0, n);
    ::ttrpc::Request ref;
    RequestHead head;
    const bool ours = peekRequest(cut, &head);
    ASSERT_EQ(ours, ref.ParseFromString(cut)) << "prefix of " << n << " bytes";
    if (!ours) continue;
    EXPECT_EQ(head.service, ref.service());
    EXPECT_EQ(head.method, ref.method());
    EXPECT_EQ(head.timeoutNano, ref.timeout_nano());
  }
}

TEST(PeekTest, MalformedWireFormatIsRefused) {
  RequestHead head;
  EXPECT_FALSE(peekRequest(std::string("\x0a\x05"
                                       "ab",
                                       4),
                           &head));                              // length past the end
  EXPECT_FALSE(peekRequest(std::string("\x0b\x0c", 2), &head));  // a group
  EXPECT_FALSE(peekRequest(std::string("\x0e", 1), &head));      // wire type 6
  EXPECT_FALSE(peekRequest(std::string("\x00\x01", 2), &head));  // field number 0
  EXPECT_FALSE(peekRequest(std::string(11, '\xff'), &head));     // endless varint
  EXPECT_FALSE(peekRequest(std::string("\x20\x80", 2), &head));  // truncated varint
  EXPECT_FALSE(peekRequest(std::string("\x39"
                                       "1234",
                                       5),
                           &head));     // short fixed64
  EXPECT_TRUE(peekRequest("", &head));  // an empty request is well-formed (and unroutable)
  EXPECT_TRUE(head.service.empty());
}

TEST(PeekTest, ResponseCodeOfGoRustAndErrorAnswers) {
  int32_t code = -1;
  ASSERT_TRUE(peekResponseCode("", &code));  // Go: success with an empty payload
  EXPECT_EQ(code, 0);
  ASSERT_TRUE(peekResponseCode(encodeResponse(std::string("\x08\x01", 2)), &code));
  EXPECT_EQ(code, 0);
  ASSERT_TRUE(peekResponseCode(std::string("\x0a\x00\x12\x02\x08\x01", 6), &code));  // Rust
  EXPECT_EQ(code, 0);
  ASSERT_TRUE(peekResponseCode(encodeResponse(fail(Code::kNotFound, "no such process")), &code));
  EXPECT_EQ(code, static_cast<int32_t>(Code::kNotFound));
  // A second status merges into the first: without a code of its own it keeps the first's.
  std::string twice = encodeResponse(fail(Code::kUnavailable, "a")) + std::string(
                                                                          "\x0a\x03\x12\x01"
                                                                          "b",
                                                                          5);
  ::ttrpc::Response ref;
  ASSERT_TRUE(ref.ParseFromString(twice));
  ASSERT_TRUE(peekResponseCode(twice, &code));
  EXPECT_EQ(code, ref.status().code());
  EXPECT_EQ(code, static_cast<int32_t>(Code::kUnavailable));

  EXPECT_FALSE(peekResponseCode("\xff\xff\xff", &code));
  EXPECT_FALSE(peekResponseCode(std::string("\x0a\x02\x08", 3), &code));      // status cut short
  EXPECT_FALSE(peekResponseCode(std::string("\x0a\x02\x08\x80", 4), &code));  // code cut short
}

}  // namespace
}  // namespace pp::ttrpc
