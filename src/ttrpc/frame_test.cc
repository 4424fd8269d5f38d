#include "ttrpc/frame.h"

#include <gtest/gtest.h>

#include <string>

namespace pp::ttrpc {
namespace {

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST(FrameTest, HeaderOfTheWorkedExample) {
  // A Request of 26 bytes on stream 1, framed as the Go client frames it.
  std::string frame = encodeFrame(1, MessageType::kRequest, 0, std::string(26, 'x'));
  EXPECT_EQ(hex(frame.substr(0, kHeaderSize)), "0000001a000000010100");
}

TEST(FrameTest, OneGoldenVectorPerFrameType) {
  EXPECT_EQ(hex(encodeFrame(1, MessageType::kResponse, 0, std::string("\x12\x02\x08\x01", 4))),
            "0000000400000001020012020801");
  EXPECT_EQ(hex(encodeFrame(7, MessageType::kData, 0, "ab")),
            "00000002000000070300"
            "6162");
  EXPECT_EQ(hex(encodeFrame(0x01020305, MessageType::kData, kFlagRemoteClosed | kFlagNoData, "")),
            "00000000010203050305");
  EXPECT_EQ(hex(encodeFrame(3, MessageType::kRequest, kFlagRemoteOpen, "")),
            "00000000000000030102");
  EXPECT_EQ(hex(encodeFrame(5, MessageType::kRequest, kFlagRemoteClosed, "z")),
            "000000010000000501017a");
}

TEST(FrameTest, DecodeRoundTripAndPartialInput) {
  std::string a = encodeFrame(1, MessageType::kRequest, 0, "hello");
  std::string b = encodeFrame(3, MessageType::kData, kFlagNoData, "");
  std::string both = a + b;
  DecodedFrame f;
  size_t used = 0;
  ASSERT_EQ(decodeFrame(both, &f, &used), DecodeStatus::kFrame);
  EXPECT_EQ(used, a.size());
  EXPECT_EQ(f.header.streamId, 1u);
  EXPECT_EQ(f.body, "hello");
  ASSERT_EQ(decodeFrame(std::string_view(both).substr(used), &f, &used), DecodeStatus::kFrame);
  EXPECT_EQ(f.header.type, 0x03);
  EXPECT_EQ(f.header.flags, kFlagNoData);
  EXPECT_TRUE(f.body.empty());
  for (size_t cut = 0; cut < a.size(); ++cut) {
    EXPECT_EQ(decodeFrame(std::string_view(a).substr(0, cut), &f, &used), DecodeStatus::kNeedMore)
        << cut;
  }
}

TEST(FrameTest, OversizedAndUnknownFramesAreFlagged) {
  uint8_t raw[kHeaderSize];
  encodeHeader(FrameHeader{kMaxMessageLength + 1, 1, 1, 0}, raw);
  DecodedFrame f;
  size_t used = 0;
  EXPECT_EQ(decodeFrame(std::string_view(reinterpret_cast<char*>(raw), kHeaderSize), &f, &used),
            DecodeStatus::kOversized);
  EXPECT_EQ(used, kHeaderSize);
  EXPECT_EQ(validateHeader(f.header), HeaderProblem::kTooLong);
  EXPECT_EQ(validateHeader(FrameHeader{kMaxMessageLength, 1, 1, 0}), HeaderProblem::kNone);
  EXPECT_EQ(validateHeader(FrameHeader{0, 1, 9, 0}), HeaderProblem::kUnknownType);
  // A header claiming 0xffffffff bytes must not make the decoder ask for them.
  encodeHeader(FrameHeader{0xffffffffu, 1, 1, 0}, raw);
  EXPECT_EQ(decodeFrame(std::string_view(reinterpret_cast<char*>(raw), kHeaderSize), &f, &used),
            DecodeStatus::kOversized);
}

}  // namespace
}  // namespace pp::ttrpc
