// Tests: a caller at the byte level, for what a well-behaved client would never send.
#pragma once

#include <asio/local/stream_protocol.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <string>
#include <utility>

#include "ttrpc/frame.h"
#include "ttrpc/io_thread.h"

namespace pp::ttrpc {

// Connects to the unix socket at `path`, writes `bytes` and reads the first frame answered.
inline std::pair<FrameHeader, std::string> rawExchange(IoThread& io, const std::string& path,
                                                       const std::string& bytes) {
  return io.run([&]() -> asio::awaitable<std::pair<FrameHeader, std::string>> {
    asio::local::stream_protocol::socket sock(io.executor());
    co_await sock.async_connect(asio::local::stream_protocol::endpoint(path), asio::use_awaitable);
    co_await asio::async_write(sock, asio::buffer(bytes), asio::use_awaitable);
    uint8_t hdr[kHeaderSize];
    co_await asio::async_read(sock, asio::buffer(hdr), asio::use_awaitable);
    FrameHeader fh = decodeHeader(hdr);
    std::string body(fh.length, '\0');
    co_await asio::async_read(sock, asio::buffer(body), asio::use_awaitable);
    co_return std::pair{fh, body};
  });
}

}  // namespace pp::ttrpc
