// A small HTTP/1.1 server for the startup probe, metrics, the admission webhook and the
// in-process fake cloud APIs of tests. It runs its own io_context on its own thread(s), serves
// keep-alive connections with coroutines, and hands every complete request to a synchronous
// handler. Parsing is strict and bounded (see RequestParser): a malformed request gets a 4xx
// and the connection is closed. Responses always carry Content-Length (no chunked responses).
#pragma once

#include <asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"
#include "net/http_request.h"
#include "net/http_request_parser.h"

namespace pp::net {

struct HttpServerOptions {
  // TCP address to listen on; port 0 picks a free port (see HttpServer::port()).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // When set, listen on this unix socket path instead of TCP. A stale socket file is replaced;
  // the file is removed again by stop().
  std::string unixSocket;
  // When set, every TCP connection starts with a TLS handshake using this context (see
  // makeServerContext in net/tls.h; a context with a client CA requires client certificates).
  std::shared_ptr<asio::ssl::context> tls;
  RequestLimits limits;
  // A connection must deliver each complete request (and take its response) within this
  // time, counted from the end of the previous response; idle keep-alive connections are
  // closed when it runs out.
  std::chrono::milliseconds requestTimeout{60000};
  // Threads running the io_context. With more than one, slow handlers do not hold up other
  // connections (each connection is still served in order on a strand).
  unsigned threads = 1;
  // Component name in log lines.
  std::string name = "http";
};

class HttpServer {
 public:
  // Binds and starts serving; fails (UNAVAILABLE) when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound TCP port (0 for a unix socket).
  uint16_t port() const;
  // "http://127.0.0.1:PORT" (or https), for tests; "http://localhost" for a unix socket.
  std::string baseUrl() const;

  // Connections accepted so far (tests use it to see keep-alive at work).
  uint64_t connectionsAccepted() const;

  // Closes the listener and every connection and joins the threads. Waits for handlers that
  // are running; must not be called from a handler. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reason phrase of a status code ("Not Found"); "Unknown" for codes without one.
std::string_view reasonPhrase(int status);

}  // namespace pp::net
