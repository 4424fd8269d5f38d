// The HTTP/1.1 server's request parser (net::RequestParser: request line, headers, Content-Length
// and chunked bodies, trailers, pipelining), driven as a connection drives it: bytes arrive in
// chunks, a complete request is taken and the parser reset for the next one, an error ends the
// connection. Behind it are the webhook, the probes, metrics and the fake clouds. The input's
// first byte seeds the chunk sizes.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - feed() never consumes more than it was given, and while it needs more it takes everything;
// - a completed request's body stays within the limit; an error has a 4xx/5xx status;
// - the requests seen (method, target, headers, body) and the final state do not depend on how
//   the stream was cut into chunks.
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "net/http_request_parser.h"

using pp::fuzz::check;
using pp::net::RequestParser;

namespace {

struct Outcome {
  std::vector<std::string> requests;  // a flat rendering of each completed request
  int errorStatus = 0;
  bool operator==(const Outcome&) const = default;
};

std::string render(const pp::net::ServerRequest& r) {
  std::string out = r.method + ' ' + r.target + '|' + r.path + '|' + r.query + '\n';
  for (const auto& [name, value] : r.headers) out += name + ':' + value + '\n';
  return out + '\n' + r.body;
}

class Connection {
 public:
  explicit Connection(pp::net::RequestLimits limits) : limits_(limits), parser_(limits) {}

  // False once the connection is over (an error).
  bool feed(std::string_view bytes) {
    while (!done_) {
      const size_t used = parser_.feed(bytes);
      check(used <= bytes.size());
      bytes.remove_prefix(used);
      switch (parser_.state()) {
        case RequestParser::State::kNeedMore:
          check(bytes.empty());
          return true;
        case RequestParser::State::kError:
          check(parser_.errorStatus() >= 400 && parser_.errorStatus() < 600);
          check(!parser_.errorMessage().empty());
          check(!parser_.keepAlive());
          outcome_.errorStatus = parser_.errorStatus();
          done_ = true;
          return false;
        case RequestParser::State::kComplete: {
          const bool keepAlive = parser_.keepAlive();
          pp::net::ServerRequest r = parser_.take();
          check(r.body.size() <= limits_.maxBodyBytes);
          outcome_.requests.push_back(render(r));
          parser_.reset();
          check(parser_.idle());
          if (!keepAlive) {
            done_ = true;
            return false;
          }
          if (bytes.empty()) return true;
          break;
        }
      }
    }
    return false;
  }

  const Outcome& outcome() const { return outcome_; }

 private:
  pp::net::RequestLimits limits_;
  RequestParser parser_;
  Outcome outcome_;
  bool done_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view stream = pp::fuzz::text(data, size);
  // Small limits, so that the fuzzer reaches them; then the server's defaults.
  for (pp::net::RequestLimits limits :
       {pp::net::RequestLimits{512, 1024}, pp::net::RequestLimits{}}) {
    Connection whole(limits);
    whole.feed(stream);

    Connection chunked(limits);
    pp::fuzz::feedInPieces(stream, 17, [&](std::string_view piece) { return chunked.feed(piece); });
    check(whole.outcome() == chunked.outcome());
  }
  return 0;
}
