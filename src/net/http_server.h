// A small HTTP/1.1 server for the startup probe, metrics, the admission webhook and the
// in-process fake cloud APIs of tests. It runs its own io_context on its own thread(s), serves
// keep-alive connections with coroutines, and hands every complete request to a synchronous
// handler. Parsing is strict and bounded (see RequestParser): a malformed request gets a 4xx
// and the connection is closed. Responses always carry Content-Length (no chunked responses).
// Clients cannot hold the server: connections are capped and every phase of a connection
// (TLS handshake, request head, request, idle keep-alive) has a deadline.
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
  // Connections open at once (the webhook and the probes face clients we do not control).
  // At the cap the server stops accepting: new connections wait in the kernel's listen
  // backlog, costing no descriptor, until one ends. A kept-alive connection idling between
  // requests is closed to make room when someone is waiting. 0 counts as 1.
  size_t maxConnections = 256;
  // TLS only: the handshake must be over within this time after the accept.
  std::chrono::milliseconds handshakeTimeout{10000};
  // A request's head (request line and headers) must be complete within this time, counted
  // from the start of the connection (after the TLS handshake) or, on a kept-alive connection,
  // from the request's first byte: trickling a header (slowloris) does not hold a connection.
  std::chrono::milliseconds headerTimeout{10000};
  // From the same start, the whole request must arrive (and its response be taken) within
  // this time; a streamed response gets this time for each piece.
  std::chrono::milliseconds requestTimeout{60000};
  // A kept-alive connection is closed when no next request starts within this time.
  std::chrono::milliseconds idleTimeout{60000};
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
  // Connections open now (at most HttpServerOptions::maxConnections).
  size_t connectionsOpen() const;

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
