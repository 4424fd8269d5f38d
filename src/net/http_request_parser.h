// Incremental, bounded parser of HTTP/1.x requests (RFC 9112). Bytes arrive in arbitrary
// pieces; the parser never buffers more than the header limit plus the body limit, and it
// rejects rather than guesses whenever a request is ambiguous (Content-Length together with
// Transfer-Encoding, differing Content-Lengths, obsolete line folding, bare LF), because a
// lenient parser in front of another one is how requests get smuggled.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "net/http_request.h"

namespace pp::net {

struct RequestLimits {
  size_t maxHeaderBytes = 64 << 10;  // request line + headers (and, separately, trailers)
  size_t maxBodyBytes = 16 << 20;
};

class RequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestParser(RequestLimits limits) : limits_(limits) {}

  // Consumes bytes from the start of `data` and returns how many it used. It stops at the end
  // of a request, so what follows (a pipelined request) stays with the caller.
  size_t feed(std::string_view data);

  State state() const { return state_; }
  // With kError: the status to answer with (400, 413, 431, 501, 505) and why.
  int errorStatus() const { return errorStatus_; }
  const std::string& errorMessage() const { return errorMessage_; }

  // True once the head is parsed, a body is still to come and the client asked for
  // "Expect: 100-continue": the server should send an interim 100 before reading on.
  bool expectsContinue() const;
  // Whether the connection may carry another request after this one (HTTP/1.1 unless
  // "Connection: close"; HTTP/1.0 only with "Connection: keep-alive").
  bool keepAlive() const { return keepAlive_; }
  // True when the request line named HEAD: the answer carries no body.
  bool isHead() const { return request_.method == "HEAD"; }
  // True when nothing at all has been received for the current request.
  bool idle() const { return phase_ == Phase::kHead && head_.empty(); }

  // Moves the completed request out; afterwards call reset() before the next one.
  ServerRequest take() { return std::move(request_); }
  void reset();

 private:
  enum class Phase { kHead, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone };

  size_t feedHead(std::string_view data);
  size_t feedBody(std::string_view data);
  size_t feedChunkSize(std::string_view data);
  size_t feedChunkData(std::string_view data);
  size_t feedChunkDataEnd(std::string_view data);
  size_t feedTrailers(std::string_view data);
  void parseHead();
  bool parseRequestLine(std::string_view line);
  bool parseHeaderLine(std::string_view line);
  bool interpretHeaders();
  void finish();
  void setError(int status, std::string message);

  RequestLimits limits_;
  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kHead;
  int errorStatus_ = 0;
  std::string errorMessage_;

  std::string head_;  // request line and headers until the empty line
  std::string line_;  // current chunk-size or trailer line
  size_t trailerBytes_ = 0;
  size_t remaining_ = 0;  // body or chunk bytes still expected
  bool http11_ = true;
  bool keepAlive_ = true;
  bool expectContinue_ = false;
  ServerRequest request_;
};

}  // namespace pp::net
