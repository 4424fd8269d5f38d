// What the HTTP server hands to a handler and what the handler gives back. Kept apart from the
// server so that the request parser (and its fuzz target) does not pull in Asio.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/strings.h"

namespace pp::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive ASCII comparison, as header names are compared.
using strings::equalsIgnoreCase;

// Value of the first header called `name` (case-insensitive); "" when there is none.
std::string_view findHeader(const HeaderList& headers, std::string_view name);

struct ServerRequest {
  std::string method;
  std::string target;  // as sent: "/a/b?x=1"
  std::string path;    // "/a/b", not percent-decoded (handlers decide what a path means)
  std::string query;   // "x=1", without the '?'
  HeaderList headers;  // in arrival order, names as sent
  std::string body;    // de-chunked when the request was chunked

  std::string header(std::string_view name) const { return std::string(findHeader(headers, name)); }
  // First value of `name` in the query, percent- and '+'-decoded (form encoding); nullopt when
  // the parameter is absent. Malformed escapes are kept literally.
  std::optional<std::string> queryParam(std::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  // Content-Length, Transfer-Encoding and Connection are set by the server; handler values for
  // them are ignored.
  HeaderList headers;
  std::string body;
  // Streamed body (watch streams of fake APIs): when set, `body` is ignored and the response
  // goes out with chunked transfer encoding. The server calls `stream` again and again on one
  // of its threads and sends whatever it appended to `out` (nothing is sent for an empty
  // append) until it returns false. It may block while it waits for data, so a server needs a
  // thread per concurrent stream plus one; it must return in bounded time so stop() can finish.
  std::function<bool(std::string& out)> stream;
};

// Runs on a server thread; must not block for long (probes, metrics, fakes).
using HttpHandler = std::function<ServerResponse(const ServerRequest&)>;

// Decodes %XX escapes, and '+' as a space when `plusIsSpace` (query strings and forms).
std::string percentDecode(std::string_view text, bool plusIsSpace);

}  // namespace pp::net
