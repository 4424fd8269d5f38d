#include "ttrpc/frame.h"

namespace pp::ttrpc {
namespace {

void putU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t getU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

void encodeHeader(const FrameHeader& h, uint8_t out[kHeaderSize]) {
  putU32(out, h.length);
  putU32(out + 4, h.streamId);
  out[8] = h.type;
  out[9] = h.flags;
}

FrameHeader decodeHeader(const uint8_t in[kHeaderSize]) {
  return FrameHeader{getU32(in), getU32(in + 4), in[8], in[9]};
}

HeaderProblem validateHeader(const FrameHeader& h) {
  if (h.length > kMaxMessageLength) return HeaderProblem::kTooLong;
  if (h.type < 0x01 || h.type > 0x03) return HeaderProblem::kUnknownType;
  return HeaderProblem::kNone;
}

std::string encodeFrame(uint32_t streamId, MessageType type, uint8_t flags, std::string_view body) {
  std::string out(kHeaderSize + body.size(), '\0');
  FrameHeader h{static_cast<uint32_t>(body.size()), streamId, static_cast<uint8_t>(type), flags};
  encodeHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  out.replace(kHeaderSize, body.size(), body);
  return out;
}

DecodeStatus decodeFrame(std::string_view input, DecodedFrame* frame, size_t* consumed) {
  *consumed = 0;
  if (input.size() < kHeaderSize) return DecodeStatus::kNeedMore;
  frame->header = decodeHeader(reinterpret_cast<const uint8_t*>(input.data()));
  frame->body = {};
  if (frame->header.length > kMaxMessageLength) {
    *consumed = kHeaderSize;
    return DecodeStatus::kOversized;
  }
  if (input.size() - kHeaderSize < frame->header.length) return DecodeStatus::kNeedMore;
  frame->body = input.substr(kHeaderSize, frame->header.length);
  *consumed = kHeaderSize + frame->header.length;
  return DecodeStatus::kFrame;
}

}  // namespace pp::ttrpc
