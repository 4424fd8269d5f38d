// FrameChannel: reads and writes whole ttrpc frames over a ByteStream.
// Reading is done by one coroutine at a time (the connection's read loop). Writing is
// queued: any coroutine on the executor may send; one writer coroutine flushes the queue,
// batching every frame queued so far into one gather write.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
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

  // Starts the writer coroutine; call once.
  void startWriter();

  void close();
  bool closed() const { return closed_; }

  // For tests: the read buffer's size and the bytes received but not yet returned as frames.
  size_t readBufferCapacity() const { return readBuf_.capacity(); }
  size_t bufferedBytes() const { return readEnd_ - readPos_; }

 private:
  asio::awaitable<void> writeLoop();
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
  std::deque<OutFrame> pending_;
  std::vector<OutFrame> inFlight_;
  asio::steady_timer wake_;
  bool writerWaiting_ = false;
  bool closed_ = false;
};

}  // namespace pp::ttrpc
