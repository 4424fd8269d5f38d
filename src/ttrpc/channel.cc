#include "ttrpc/channel.h"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>

namespace pp::ttrpc {
namespace {
// Small by default: a sandbox's connections sit idle most of the time and each byte here is
// paid per connection (the adaptor holds two per running pod: bench/sandboxes). Most ttrpc
// messages fit; bigger frames (CreateContainer's OCI spec) grow the buffer, which shrinks back
// once drained.
constexpr size_t kReadChunk = 2 * 1024;
constexpr size_t kKeepAfterDrain = 4 * kReadChunk;
}  // namespace

FrameChannel::FrameChannel(std::unique_ptr<ByteStream> stream)
    : stream_(std::move(stream)), readBuf_(kReadChunk) {}

FrameChannel::~FrameChannel() {
  stream_->close();
}

asio::awaitable<Status> FrameChannel::fill(size_t want) {
  // Ensure `want` unread bytes are buffered.
  if (readEnd_ - readPos_ >= want) co_return Status{};
  if (readPos_ > 0) {
    std::memmove(readBuf_.data(), readBuf_.data() + readPos_, readEnd_ - readPos_);
    readEnd_ -= readPos_;
    readPos_ = 0;
  }
  while (readEnd_ < want) {
    if (readEnd_ == readBuf_.size()) {
      // Grow with the bytes that arrive, not to what a header announces: a peer that sends
      // a header claiming 4 MiB and then nothing costs a read chunk, not 4 MiB. Doubling
      // keeps the copies amortised.
      readBuf_.resize(std::min(want, std::max(2 * readBuf_.size(), kReadChunk)));
    }
    auto [ec, n] = co_await stream_->readSome(
        asio::buffer(readBuf_.data() + readEnd_, readBuf_.size() - readEnd_));
    if (ec || n == 0) {
      co_return fail(Code::kUnavailable, ec == asio::error::eof || !ec
                                             ? std::string("connection closed by peer")
                                             : "read: " + ec.message());
    }
    readEnd_ += n;
  }
  co_return Status{};
}

asio::awaitable<Result<Frame>> FrameChannel::readFrame() {
  if (auto st = co_await fill(kHeaderSize); !st) co_return fail(st.error());
  Frame frame;
  frame.header = decodeHeader(reinterpret_cast<const uint8_t*>(readBuf_.data() + readPos_));
  readPos_ += kHeaderSize;
  uint32_t length = frame.header.length;
  if (length > kMaxMessageLength) {
    // Skip the body without buffering it: memory stays bounded whatever the peer claims.
    frame.oversized = true;
    size_t left = length;
    while (left > 0) {
      size_t have = readEnd_ - readPos_;
      if (have == 0) {
        readPos_ = readEnd_ = 0;
        auto [ec, n] = co_await stream_->readSome(asio::buffer(readBuf_.data(), kReadChunk));
        if (ec || n == 0)
          co_return fail(Code::kUnavailable, "connection closed while skipping an oversized frame");
        readEnd_ = n;
        have = n;
      }
      size_t take = std::min(have, left);
      readPos_ += take;
      left -= take;
    }
    co_return frame;
  }
  if (auto st = co_await fill(length); !st) co_return fail(st.error());
  frame.body.assign(readBuf_.data() + readPos_, length);
  readPos_ += length;
  if (readBuf_.size() > kKeepAfterDrain && readEnd_ == readPos_) {
    // A large frame grew the buffer; give the memory back once it is drained.
    readBuf_.resize(kReadChunk);
    readBuf_.shrink_to_fit();
    readPos_ = readEnd_ = 0;
  }
  co_return frame;
}

bool FrameChannel::send(uint32_t streamId, MessageType type, uint8_t flags, std::string_view body) {
  if (closed_) return false;
  return sendOwned(streamId, type, flags, std::string(body));
}

bool FrameChannel::sendOwned(uint32_t streamId, MessageType type, uint8_t flags, std::string body) {
  if (closed_) return false;
  auto& out = pending_.emplace_back();
  encodeHeader(
      FrameHeader{static_cast<uint32_t>(body.size()), streamId, static_cast<uint8_t>(type), flags},
      out.header);
  out.body = std::move(body);
  if (!flushPosted_ && !writing_) {
    // One frame at a time (one caller, the Kata shim's way): it goes out now, and the peer
    // starts on it while we go on. Several per turn (many callers): they go out together at
    // the flush posted behind the handlers queued so far, one write (one TLS record) for all.
    if (!batching_) flush();
    flushPosted_ = true;
    asio::post(stream_->executor(), [self = shared_from_this()] {
      self->flushPosted_ = false;
      // Frames still queued came after the first of this turn: batch the next turn's too.
      self->batching_ = self->pending_.size() > (self->batching_ ? 1u : 0u);
      self->flush();
    });
  }
  return !closed_;
}

size_t FrameChannel::gather(std::array<asio::const_buffer, kMaxGather>& bufs,
                            size_t& frames) const {
  size_t count = 0;
  size_t skip = sentOfFront_;
  frames = 0;
  for (const auto& f : pending_) {
    if (count + 2 > bufs.size()) break;
    if (skip < kHeaderSize) bufs[count++] = asio::buffer(f.header + skip, kHeaderSize - skip);
    const size_t bodySkip = skip > kHeaderSize ? skip - kHeaderSize : 0;
    if (bodySkip < f.body.size())
      bufs[count++] = asio::buffer(f.body.data() + bodySkip, f.body.size() - bodySkip);
    skip = 0;
    ++frames;
  }
  return count;
}

void FrameChannel::consume(size_t n) {
  while (n > 0 && !pending_.empty()) {
    const size_t left = kHeaderSize + pending_.front().body.size() - sentOfFront_;
    if (n < left) {
      sentOfFront_ += n;
      return;
    }
    n -= left;
    pending_.pop_front();
    sentOfFront_ = 0;
  }
}

void FrameChannel::flush() {
  std::array<asio::const_buffer, kMaxGather> bufs;
  while (!closed_ && !writing_ && !pending_.empty()) {
    size_t frames = 0;
    const size_t count = gather(bufs, frames);
    auto [ec, n] = stream_->tryWrite(std::span(bufs.data(), count));
    consume(n);
    if (ec == asio::error::would_block) {
      writing_ = true;
      asio::co_spawn(
          stream_->executor(), [self = shared_from_this()] { return self->writeRest(); },
          asio::detached);
      return;
    }
    if (ec) close();
  }
}

asio::awaitable<void> FrameChannel::writeRest() {
  std::array<asio::const_buffer, kMaxGather> bufs;
  while (!closed_ && !pending_.empty()) {
    size_t frames = 0;
    const size_t count = gather(bufs, frames);
    // The buffers point into pending_'s frames, which stay put while more are queued.
    auto ec = co_await stream_->writeAll(std::span(bufs.data(), count));
    if (ec) {
      close();
      break;
    }
    for (size_t i = 0; i < frames; ++i) pending_.pop_front();
    sentOfFront_ = 0;
  }
  writing_ = false;
  if (closed_) pending_.clear();
}

void FrameChannel::close() {
  if (closed_) return;
  closed_ = true;
  if (!writing_) pending_.clear();  // else writeRest's buffers point into it: it clears
  stream_->close();
}

}  // namespace pp::ttrpc
