// FrameChannel: reads and writes whole ttrpc frames over a ByteStream.
// Reading is done by one coroutine at a time (the connection's read loop). Writing is
// queued: any coroutine on the executor may send. A frame sent while the channel is quiet goes
// out at once; otherwise the first frame queued posts a flush, so the frames queued by the
// handlers that run before it go out together in one gather write, without waiting. Only when
// the stream cannot take them all does a coroutine wait for it.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "ttrpc/frame.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {

struct Frame {
  FrameHeader header;
  std::string body;
  bool oversized = false;  // the body exceeded kMaxMessageLength and was skipped
};

class FrameChannel : public std::enable_shared_from_this<FrameChannel> {
 public:
  explicit FrameChannel(std::unique_ptr<ByteStream> stream);
  ~FrameChannel();

  asio::any_io_executor executor() { return stream_->executor(); }
  std::string peer() const { return stream_->peer(); }

  // Next frame; an error when the stream ends or fails (code UNAVAILABLE).
  asio::awaitable<Result<Frame>> readFrame();

  // Queues a frame. Returns false if the channel is closed. Bodies above the limit are refused
  // by the caller (client) or turned into errors (server) before reaching here.
  bool send(uint32_t streamId, MessageType type, uint8_t flags, std::string_view body);
  // The same, keeping `body`'s bytes instead of copying them (a relay passing a frame's body
  // on, an answer just encoded).
  bool sendOwned(uint32_t streamId, MessageType type, uint8_t flags, std::string body);

  void close();
  bool closed() const { return closed_; }

  // For tests: the read buffer's size and the bytes received but not yet returned as frames.
  size_t readBufferCapacity() const { return readBuf_.capacity(); }
  size_t bufferedBytes() const { return readEnd_ - readPos_; }

 private:
  // Writes what the stream takes now; starts writeRest for the rest.
  void flush();
  asio::awaitable<void> writeRest();
  // The queued frames' bytes not yet written, at most kMaxGather buffers; `frames` is set to
  // how many frames they cover.
  static constexpr size_t kMaxGather = 64;
  size_t gather(std::array<asio::const_buffer, kMaxGather>& bufs, size_t& frames) const;
  // Drops `n` written bytes from the front of the queue.
  void consume(size_t n);
  asio::awaitable<Status> fill(size_t want);

  std::unique_ptr<ByteStream> stream_;
  // Read buffer: bytes [readPos_, readEnd_) are unread.
  std::vector<char> readBuf_;
  size_t readPos_ = 0;
  size_t readEnd_ = 0;

  struct OutFrame {
    uint8_t header[kHeaderSize];
    std::string body;
  };
  std::deque<OutFrame> pending_;  // references stay valid as frames are added (writeRest)
  size_t sentOfFront_ = 0;        // bytes of pending_.front() already written
  bool flushPosted_ = false;
  bool batching_ = false;  // the last turn queued several frames: wait for the flush
  bool writing_ = false;   // writeRest is waiting for the stream
  bool closed_ = false;
};

}  // namespace pp::ttrpc
