// ttrpc framing (containerd/ttrpc channel.go): a 10-byte header followed by a protobuf body.
// This header has no dependency on the rest of the library so that fuzz targets can use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pp::ttrpc {

inline constexpr size_t kHeaderSize = 10;
inline constexpr uint32_t kMaxMessageLength = 4u << 20;  // 4 MiB, Go messageLengthMax

enum class MessageType : uint8_t {
  kRequest = 0x01,
  kResponse = 0x02,
  kData = 0x03,
};

// Flags on Request frames.
inline constexpr uint8_t kFlagRemoteClosed = 0x01;  // non-unary, client sends no more data
inline constexpr uint8_t kFlagRemoteOpen = 0x02;    // client will send Data frames
// Flags on Data frames.
inline constexpr uint8_t kFlagNoData = 0x04;  // frame carries no payload

struct FrameHeader {
  uint32_t length = 0;
  uint32_t streamId = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
};

// Writes the 10 header bytes to out (big-endian fields).
void encodeHeader(const FrameHeader& header, uint8_t out[kHeaderSize]);

// Reads a header from exactly kHeaderSize bytes. Never fails: any 10 bytes are a header;
// validity (length limit, known type) is checked by validateHeader.
FrameHeader decodeHeader(const uint8_t in[kHeaderSize]);

enum class HeaderProblem {
  kNone,
  kTooLong,      // length above kMaxMessageLength: body must be skipped, stream answered
  kUnknownType,  // ignored by Go and Rust peers
};
HeaderProblem validateHeader(const FrameHeader& header);

// Header + body in one string, ready to write.
std::string encodeFrame(uint32_t streamId, MessageType type, uint8_t flags, std::string_view body);

// Incremental decoder over a byte buffer, used by the fuzz target and by tests: consumes
// complete frames from the front of `input`. Oversized frames are reported without their body
// being buffered (the caller skips it).
struct DecodedFrame {
  FrameHeader header;
  std::string_view body;  // points into the input; empty for oversized frames
};
enum class DecodeStatus { kFrame, kNeedMore, kOversized };
DecodeStatus decodeFrame(std::string_view input, DecodedFrame* frame, size_t* consumed);

}  // namespace pp::ttrpc
