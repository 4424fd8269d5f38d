// The ttrpc frame decoder driven the way a connection drives it: bytes arrive in chunks, complete
// frames are taken from the front of the buffer, and the body of an oversized frame is skipped as
// it arrives, never buffered. The input is both the byte stream and (through its first byte) the
// chunk sizes.
//
// Invariants checked:
// - decodeFrame never consumes more than its input; a frame's body lies inside the input, has
//   the header's length and re-encodes to exactly the bytes consumed;
// - kNeedMore consumes nothing and only happens when the buffer really is short;
// - an oversized header consumes only the header and yields no body;
// - what stays buffered is at most one incomplete frame of allowed size;
// - the frames seen do not depend on how the stream was cut into chunks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ttrpc/frame.h"

namespace {

using namespace pp::ttrpc;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Event {
  FrameHeader header;
  std::string body;  // empty for oversized frames
  bool oversized = false;

  bool operator==(const Event& o) const {
    return header.length == o.header.length && header.streamId == o.header.streamId &&
           header.type == o.header.type && header.flags == o.header.flags && body == o.body &&
           oversized == o.oversized;
  }
};

class StreamDecoder {
 public:
  void feed(std::string_view chunk) {
    if (skip_ > 0) {
      size_t n = chunk.size() < skip_ ? chunk.size() : static_cast<size_t>(skip_);
      skip_ -= n;
      chunk.remove_prefix(n);
    }
    buffer_.append(chunk);
    drain();
  }

  const std::vector<Event>& events() const { return events_; }

 private:
  void drain() {
    std::string_view in(buffer_);
    while (skip_ == 0) {
      DecodedFrame f;
      size_t used = 12345;
      DecodeStatus st = decodeFrame(in, &f, &used);
      check(used <= in.size());
      if (st == DecodeStatus::kNeedMore) {
        check(used == 0);
        check(in.size() < kHeaderSize ||
              (f.header.length <= kMaxMessageLength && in.size() < kHeaderSize + f.header.length));
        break;
      }
      if (st == DecodeStatus::kOversized) {
        check(used == kHeaderSize && f.body.empty());
        check(f.header.length > kMaxMessageLength);
        check(validateHeader(f.header) == HeaderProblem::kTooLong);
        events_.push_back({f.header, {}, true});
        // The body is dropped as it arrives: first what is already here, the rest in feed().
        in.remove_prefix(used);
        size_t here = in.size() < f.header.length ? in.size() : f.header.length;
        in.remove_prefix(here);
        skip_ = f.header.length - here;
        continue;
      }
      check(st == DecodeStatus::kFrame);
      check(used == kHeaderSize + f.header.length && f.body.size() == f.header.length);
      check(f.body.data() == in.data() + kHeaderSize);
      check(validateHeader(f.header) != HeaderProblem::kTooLong);
      std::string again = encodeFrame(f.header.streamId, static_cast<MessageType>(f.header.type),
                                      f.header.flags, f.body);
      check(again == in.substr(0, used));
      events_.push_back({f.header, std::string(f.body), false});
      in.remove_prefix(used);
    }
    buffer_.erase(0, buffer_.size() - in.size());
    // Never more than one incomplete frame of allowed size waits in the buffer.
    check(buffer_.size() < kHeaderSize + kMaxMessageLength);
    check(skip_ == 0 || buffer_.empty());
  }

  std::string buffer_;
  uint64_t skip_ = 0;
  std::vector<Event> events_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view stream(reinterpret_cast<const char*>(data), size);

  StreamDecoder whole;
  whole.feed(stream);

  StreamDecoder chunked;
  pp::fuzz::feedInPieces(stream, 23, [&](std::string_view piece) {
    chunked.feed(piece);
    return true;
  });
  check(whole.events() == chunked.events());
  return 0;
}
