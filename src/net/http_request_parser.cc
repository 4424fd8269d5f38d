#include "net/http_request_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pp::net {
namespace {

// Longest chunk-size line we accept (hex size plus extensions, which we ignore).
constexpr size_t kMaxChunkLine = 1024;
// A body is received into a string reserved up to this much in advance; beyond it the string
// grows with the bytes that really arrive, so a large Content-Length alone costs nothing.
constexpr size_t kMaxReserve = 1 << 20;

bool isTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return isTokenChar(c); });
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each element of a comma-separated list, trimmed, empty ones skipped.
template <typename F>
void forEachListElement(std::string_view list, F f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = trimOws(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Position of a '\n' in `text` that is not preceded by '\r' (`before` is the byte preceding
// text[0], or 0 when there is none); npos when every LF is part of a CRLF.
size_t findBareLf(std::string_view text, char before) {
  for (size_t i = text.find('\n'); i != std::string_view::npos; i = text.find('\n', i + 1)) {
    char prev = i == 0 ? before : text[i - 1];
    if (prev != '\r') return i;
  }
  return std::string_view::npos;
}

}  // namespace

void RequestParser::reset() {
  state_ = State::kNeedMore;
  phase_ = Phase::kHead;
  errorStatus_ = 0;
  errorMessage_.clear();
  head_.clear();
  line_.clear();
  trailerBytes_ = 0;
  remaining_ = 0;
  http11_ = true;
  keepAlive_ = true;
  expectContinue_ = false;
  request_ = ServerRequest{};
}

void RequestParser::setError(int status, std::string message) {
  state_ = State::kError;
  errorStatus_ = status;
  errorMessage_ = std::move(message);
  // Whatever follows an invalid request cannot be framed reliably.
  keepAlive_ = false;
}

bool RequestParser::expectsContinue() const {
  return expectContinue_ && state_ == State::kNeedMore && request_.body.empty() &&
         (phase_ == Phase::kBody || phase_ == Phase::kChunkSize) && line_.empty();
}

size_t RequestParser::feed(std::string_view data) {
  size_t used = 0;
  while (state_ == State::kNeedMore && used < data.size()) {
    std::string_view rest = data.substr(used);
    switch (phase_) {
      case Phase::kHead:
        used += feedHead(rest);
        break;
      case Phase::kBody:
        used += feedBody(rest);
        break;
      case Phase::kChunkSize:
        used += feedChunkSize(rest);
        break;
      case Phase::kChunkData:
        used += feedChunkData(rest);
        break;
      case Phase::kChunkDataEnd:
        used += feedChunkDataEnd(rest);
        break;
      case Phase::kTrailers:
        used += feedTrailers(rest);
        break;
      case Phase::kDone:
        return used;
    }
  }
  return used;
}

size_t RequestParser::feedHead(std::string_view data) {
  size_t skipped = 0;
  // RFC 9112 §2.2: ignore empty lines before a request line (some clients send a CRLF after
  // a POST body), also when the CRLF is split between two reads.
  if (head_ == "\r" && data.starts_with('\n')) {
    head_.clear();
    skipped = 1;
  }
  while (head_.empty() && data.substr(skipped, 2) == "\r\n") skipped += 2;
  data.remove_prefix(skipped);
  if (data.empty()) return skipped;

  if (head_.size() >= limits_.maxHeaderBytes) {
    setError(431, "request header exceeds " + std::to_string(limits_.maxHeaderBytes) + " bytes");
    return skipped;
  }
  std::string_view piece = data.substr(0, limits_.maxHeaderBytes - head_.size());
  size_t old = head_.size();
  head_.append(piece);
  size_t end = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  // Only the head's own lines must end in CRLF: what follows its empty line in the same read is
  // the body or a pipelined request (a JSON body may well hold a bare LF).
  const size_t headEnd = end == std::string::npos ? head_.size() : end + 4;
  if (findBareLf(std::string_view(head_).substr(old, headEnd - old),
                 old == 0 ? '\0' : head_[old - 1]) != std::string_view::npos) {
    setError(400, "line ending without CR");
    return skipped + piece.size();
  }
  if (end == std::string::npos) {
    if (head_.size() >= limits_.maxHeaderBytes) {
      setError(431, "request header exceeds " + std::to_string(limits_.maxHeaderBytes) + " bytes");
    }
    return skipped + piece.size();
  }
  head_.resize(end + 4);
  parseHead();
  return skipped + (end + 4 - old);
}

void RequestParser::parseHead() {
  std::string_view head(head_);
  head.remove_suffix(4);  // the empty line
  size_t eol = head.find("\r\n");
  if (!parseRequestLine(head.substr(0, eol))) return;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    if (!parseHeaderLine(head.substr(0, eol))) return;
  }
  if (!interpretHeaders()) return;
  if (phase_ == Phase::kHead) finish();
}

bool RequestParser::parseRequestLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    setError(400, "malformed request line");
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method)) {
    setError(400, "malformed method");
    return false;
  }
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
      })) {
    setError(400, "malformed request target");
    return false;
  }
  if (version == "HTTP/1.1") {
    http11_ = true;
  } else if (version == "HTTP/1.0") {
    http11_ = false;
  } else if (version.size() == 8 && version.starts_with("HTTP/") && std::isdigit(version[5]) &&
             version[6] == '.' && std::isdigit(version[7])) {
    setError(505, "HTTP version not supported");
    return false;
  } else {
    setError(400, "malformed HTTP version");
    return false;
  }
  keepAlive_ = http11_;

  std::string_view pathAndQuery;
  if (target.front() == '/') {
    pathAndQuery = target;
  } else if (target == "*" && method == "OPTIONS") {
    pathAndQuery = target;
  } else if (size_t scheme = target.find("://");
             scheme != std::string_view::npos && isToken(target.substr(0, scheme))) {
    // absolute-form (what proxies receive): the path starts after the authority.
    std::string_view afterScheme = target.substr(scheme + 3);
    size_t slash = afterScheme.find_first_of("/?");
    pathAndQuery = slash == std::string_view::npos ? std::string_view() : afterScheme.substr(slash);
  } else {
    setError(400, "unsupported request target form");
    return false;
  }
  size_t q = pathAndQuery.find('?');
  request_.method = method;
  request_.target = target;
  request_.path = pathAndQuery.substr(0, q);
  if (request_.path.empty()) request_.path = "/";
  if (q != std::string_view::npos) request_.query = pathAndQuery.substr(q + 1);
  return true;
}

bool RequestParser::parseHeaderLine(std::string_view line) {
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    setError(400, "obsolete header line folding");
    return false;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
    setError(400, "malformed header line");
    return false;
  }
  std::string_view value = trimOws(line.substr(colon + 1));
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      setError(400, "control character in header value");
      return false;
    }
  }
  request_.headers.emplace_back(line.substr(0, colon), value);
  return true;
}

bool RequestParser::interpretHeaders() {
  int hosts = 0;
  bool haveLength = false;
  bool badLength = false;
  uint64_t length = 0;
  bool chunked = false;
  bool haveEncoding = false;
  bool badEncoding = false;
  for (const auto& [name, value] : request_.headers) {
    if (equalsIgnoreCase(name, "host")) {
      ++hosts;
    } else if (equalsIgnoreCase(name, "content-length")) {
      // "Content-Length: 5, 5" and repeated identical fields are allowed; anything else is
      // ambiguous framing.
      bool any = false;
      forEachListElement(value, [&](std::string_view element) {
        any = true;
        uint64_t n = 0;
        auto [end, ec] = std::from_chars(element.data(), element.data() + element.size(), n);
        if (ec != std::errc() || end != element.data() + element.size() ||
            !std::isdigit(static_cast<unsigned char>(element.front())) ||
            (haveLength && n != length)) {
          badLength = true;
        }
        haveLength = true;
        length = n;
      });
      if (!any) badLength = true;
    } else if (equalsIgnoreCase(name, "transfer-encoding")) {
      haveEncoding = true;
      forEachListElement(value, [&](std::string_view coding) {
        // Only a single "chunked" is supported; it must be the last coding anyway.
        if (!equalsIgnoreCase(coding, "chunked") || chunked) badEncoding = true;
        chunked = true;
      });
    } else if (equalsIgnoreCase(name, "connection")) {
      forEachListElement(value, [&](std::string_view option) {
        if (equalsIgnoreCase(option, "keep-alive") && !http11_) keepAlive_ = true;
      });
    } else if (equalsIgnoreCase(name, "expect")) {
      if (http11_ && equalsIgnoreCase(value, "100-continue")) expectContinue_ = true;
    }
  }
  // A "Connection: close" anywhere wins over a keep-alive elsewhere.
  for (const auto& [name, value] : request_.headers) {
    if (!equalsIgnoreCase(name, "connection")) continue;
    forEachListElement(value, [&](std::string_view option) {
      if (equalsIgnoreCase(option, "close")) keepAlive_ = false;
    });
  }

  if (http11_ && hosts != 1) {
    setError(400, hosts == 0 ? "missing Host header" : "more than one Host header");
    return false;
  }
  if (badLength) {
    setError(400, "invalid Content-Length");
    return false;
  }
  if (haveEncoding) {
    if (!http11_ || haveLength) {
      setError(400, "Transfer-Encoding with HTTP/1.0 or with Content-Length");
      return false;
    }
    if (badEncoding || !chunked) {
      setError(501, "unsupported transfer coding");
      return false;
    }
    phase_ = Phase::kChunkSize;
    return true;
  }
  if (length > limits_.maxBodyBytes) {
    setError(413, "request body exceeds " + std::to_string(limits_.maxBodyBytes) + " bytes");
    return false;
  }
  if (length > 0) {
    remaining_ = static_cast<size_t>(length);
    request_.body.reserve(std::min(remaining_, kMaxReserve));
    phase_ = Phase::kBody;
  }
  return true;
}

size_t RequestParser::feedBody(std::string_view data) {
  size_t n = std::min(remaining_, data.size());
  request_.body.append(data.substr(0, n));
  remaining_ -= n;
  if (remaining_ == 0) finish();
  return n;
}

size_t RequestParser::feedChunkSize(std::string_view data) {
  size_t lf = data.find('\n');
  std::string_view piece = data.substr(0, lf == std::string_view::npos ? data.size() : lf + 1);
  if (line_.size() + piece.size() > kMaxChunkLine) {
    setError(400, "chunk size line too long");
    return piece.size();
  }
  line_.append(piece);
  if (lf == std::string_view::npos) return piece.size();
  if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
    setError(400, "line ending without CR");
    return piece.size();
  }
  std::string_view line(line_);
  line.remove_suffix(2);
  size_t digits = 0;
  while (digits < line.size() && std::isxdigit(static_cast<unsigned char>(line[digits]))) ++digits;
  std::string_view rest = trimOws(line.substr(digits));
  uint64_t size = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + digits, size, 16);
  if (digits == 0 || ec != std::errc() || (!rest.empty() && rest.front() != ';')) {
    setError(ec == std::errc::result_out_of_range ? 413 : 400, "malformed chunk size");
    return piece.size();
  }
  line_.clear();
  if (size > limits_.maxBodyBytes - request_.body.size()) {
    setError(413, "request body exceeds " + std::to_string(limits_.maxBodyBytes) + " bytes");
    return piece.size();
  }
  if (size == 0) {
    phase_ = Phase::kTrailers;
  } else {
    remaining_ = static_cast<size_t>(size);
    phase_ = Phase::kChunkData;
  }
  return piece.size();
}

size_t RequestParser::feedChunkData(std::string_view data) {
  size_t n = std::min(remaining_, data.size());
  request_.body.append(data.substr(0, n));
  remaining_ -= n;
  if (remaining_ == 0) phase_ = Phase::kChunkDataEnd;
  return n;
}

size_t RequestParser::feedChunkDataEnd(std::string_view data) {
  size_t n = std::min<size_t>(2 - line_.size(), data.size());
  line_.append(data.substr(0, n));
  if (line_.size() < 2) return n;
  if (line_ != "\r\n") {
    setError(400, "chunk data not followed by CRLF");
    return n;
  }
  line_.clear();
  phase_ = Phase::kChunkSize;
  return n;
}

size_t RequestParser::feedTrailers(std::string_view data) {
  size_t lf = data.find('\n');
  std::string_view piece = data.substr(0, lf == std::string_view::npos ? data.size() : lf + 1);
  trailerBytes_ += piece.size();
  if (trailerBytes_ > limits_.maxHeaderBytes) {
    setError(431, "request trailers exceed " + std::to_string(limits_.maxHeaderBytes) + " bytes");
    return piece.size();
  }
  line_.append(piece);
  if (lf == std::string_view::npos) return piece.size();
  if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
    setError(400, "line ending without CR");
    return piece.size();
  }
  // Trailer fields are dropped: nothing we serve uses them. The empty line ends the request.
  bool last = line_ == "\r\n";
  line_.clear();
  if (last) finish();
  return piece.size();
}

void RequestParser::finish() {
  phase_ = Phase::kDone;
  state_ = State::kComplete;
}

}  // namespace pp::net
