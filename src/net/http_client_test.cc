#include "net/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "net/http_server.h"
#include "net/raw_socket_test_util.h"

namespace pp::net {
namespace {

using namespace std::chrono_literals;

// Records the requests it receives and answers according to the path.
class RecordingServer {
 public:
  explicit RecordingServer(HttpServerOptions options = {}) {
    options.threads = 2;  // a sleeping handler must not hold up the next test request
    auto s = HttpServer::start(options, [this](const ServerRequest& r) { return handle(r); });
    if (!s) throw std::runtime_error(s.error().toString());
    server_ = std::move(*s);
  }
  std::string url(std::string_view path) const { return server_->baseUrl() + std::string(path); }
  ServerRequest last() {
    std::lock_guard lock(mu_);
    return last_;
  }
  HttpServer& server() { return *server_; }

 private:
  ServerResponse handle(const ServerRequest& r) {
    {
      std::lock_guard lock(mu_);
      last_ = r;
    }
    if (r.path == "/sleep") {
      std::this_thread::sleep_for(1s);
      return ServerResponse{200, {}, "late"};
    }
    if (r.path == "/big") {
      size_t n = std::stoul(*r.queryParam("n"));
      return ServerResponse{200, {}, std::string(n, 'b')};
    }
    if (r.path == "/stream") {
      // Three pieces, the second after a pause: the client must see the first before it.
      auto step = std::make_shared<int>(0);
      ServerResponse out{200, {{"Content-Type", "application/json"}}, ""};
      out.stream = [step](std::string& piece) {
        ++*step;
        if (*step == 2) std::this_thread::sleep_for(300ms);
        if (*step <= 3) piece = "line" + std::to_string(*step) + "\n";
        return *step < 3;
      };
      return out;
    }
    if (r.path == "/endless") {
      ServerResponse out{200, {}, ""};
      out.stream = [](std::string& piece) {
        std::this_thread::sleep_for(20ms);
        piece = "x";
        return true;
      };
      return out;
    }
    if (r.path == "/status") {
      return ServerResponse{std::stoi(*r.queryParam("code")), {{"X-Reason", "asked"}}, "status"};
    }
    return ServerResponse{200,
                          {{"X-Method", r.method}, {"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}},
                          r.method + ":" + r.body};
  }

  std::mutex mu_;
  ServerRequest last_;
  std::unique_ptr<HttpServer> server_;
};

TEST(HttpClientStreamTest, DeliversChunksAsTheyArrive) {
  RecordingServer server;
  HttpClient client;
  HttpRequest request;
  request.url = server.url("/stream");
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> pieces;
  request.onBody = [&](std::string_view piece) {
    pieces.emplace_back(std::string(piece), std::chrono::steady_clock::now());
    return true;
  };
  auto response = client.send(request);
  ASSERT_TRUE(response) << response.error().toString();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body.empty());
  std::string all;
  for (auto& [text, at] : pieces) all += text;
  EXPECT_EQ(all, "line1\nline2\nline3\n");
  ASSERT_GE(pieces.size(), 2u);
  EXPECT_EQ(pieces.front().first, "line1\n");  // before the pause, on its own
  EXPECT_GE(pieces.back().second - pieces.front().second, 250ms);
}

TEST(HttpClientStreamTest, SinkStopsTheTransfer) {
  RecordingServer server;
  HttpClient client;
  HttpRequest request;
  request.url = server.url("/endless");
  int calls = 0;
  request.onBody = [&](std::string_view) { return ++calls < 3; };
  auto response = client.send(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Code::kCancelled);
  EXPECT_EQ(calls, 3);
}

TEST(HttpClientStreamTest, CancelFromAnotherThread) {
  RecordingServer server;
  HttpClient client;
  HttpRequest request;
  request.url = server.url("/endless");
  std::atomic<bool> stop{false};
  request.onBody = [](std::string_view) { return true; };
  request.cancelled = [&] { return stop.load(); };
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop = true;
  });
  auto started = std::chrono::steady_clock::now();
  auto response = client.send(request);
  stopper.join();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Code::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(HttpClientStreamTest, ErrorStatusIsBufferedNotStreamed) {
  RecordingServer server;
  HttpClient client;
  HttpRequest request;
  request.url = server.url("/status?code=410");
  bool called = false;
  request.onBody = [&](std::string_view) { return called = true; };
  auto response = client.send(request);
  ASSERT_TRUE(response) << response.error().toString();
  EXPECT_EQ(response->status, 410);
  EXPECT_EQ(response->body, "status");
  EXPECT_FALSE(called);
}

TEST(HttpClient, MethodsBodiesAndHeadersBothWays) {
  RecordingServer server;
  HttpClient client;
  for (std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    bool withBody = method != "GET" && method != "DELETE";
    HttpRequest req{.method = method,
                    .url = server.url("/things/1?x=y"),
                    .headers = {{"Authorization", "Bearer t0ken"}, {"X-Empty", ""}},
                    .body = withBody ? "{\"k\":1}" : ""};
    if (withBody) req.headers.emplace_back("Content-Type", "application/json");
    auto r = client.send(req);
    ASSERT_TRUE(r) << method << ": " << r.error().toString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, method + ":" + req.body);
    EXPECT_EQ(r->header("x-method"), method);
    EXPECT_EQ(r->header("X-METHOD"), method);
    ServerRequest seen = server.last();
    EXPECT_EQ(seen.method, method);
    EXPECT_EQ(seen.path, "/things/1");
    EXPECT_EQ(seen.query, "x=y");
    EXPECT_EQ(seen.header("authorization"), "Bearer t0ken");
    // An empty header is sent as such rather than dropped.
    bool sawEmpty = false;
    for (const auto& [name, value] : seen.headers)
      sawEmpty = sawEmpty || (name == "X-Empty" && value.empty());
    EXPECT_TRUE(sawEmpty) << method;
    EXPECT_EQ(seen.header("content-type"), withBody ? "application/json" : "");
    EXPECT_EQ(seen.header("expect"), "");
  }
}

TEST(HttpClient, BodylessPostSendsZeroLengthAndNoFormContentType) {
  RecordingServer server;
  auto r = HttpClient().send({.method = "POST", .url = server.url("/containers/abc/start")});
  ASSERT_TRUE(r) << r.error().toString();
  ServerRequest seen = server.last();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.header("content-length"), "0");
  EXPECT_EQ(seen.header("content-type"), "");

  r = HttpClient().send({.method = "PUT", .url = server.url("/x"), .body = "data"});
  ASSERT_TRUE(r);
  EXPECT_EQ(server.last().header("content-type"), "");
}

TEST(HttpClient, KeepsRepeatedResponseHeadersAndHeadHasNoBody) {
  RecordingServer server;
  HttpClient client;
  auto r = client.send({.url = server.url("/")});
  ASSERT_TRUE(r);
  int cookies = 0;
  for (const auto& [name, value] : r->headers) {
    if (name == "Set-Cookie" || name == "set-cookie") ++cookies;
  }
  EXPECT_EQ(cookies, 2);
  EXPECT_EQ(r->header("set-cookie"), "a=1");

  r = client.send({.method = "HEAD", .url = server.url("/")});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(server.last().method, "HEAD");
}

TEST(HttpClient, ErrorStatusesAreResponsesNotErrors) {
  RecordingServer server;
  auto r = HttpClient().send({.url = server.url("/status?code=404")});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->header("x-reason"), "asked");
  EXPECT_EQ(r->body, "status");
}

TEST(HttpClient, TimeoutIsDeadlineExceededWithoutSecrets) {
  RecordingServer server;
  auto start = std::chrono::steady_clock::now();
  auto r = HttpClient().send({.url = server.url("/sleep?sig=SECRETSIG"),
                              .headers = {{"Authorization", "Bearer SECRETTOKEN"}},
                              .timeout = 200ms});
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms);
  EXPECT_EQ(r.error().code, Code::kDeadlineExceeded) << r.error().toString();
  EXPECT_NE(r.error().message.find(server.url("/sleep")), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("SECRET"), std::string::npos) << r.error().message;
}

TEST(HttpClient, RefusedConnectionIsUnavailable) {
  uint16_t port;
  {
    RecordingServer gone;
    port = gone.server().port();
  }
  auto r = HttpClient().send(
      {.url = "http://user:pw@127.0.0.1:" + std::to_string(port) + "/x?token=abc"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable) << r.error().toString();
  EXPECT_NE(r.error().message.find("GET http://127.0.0.1:" + std::to_string(port) + "/x"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("token"), std::string::npos);
  EXPECT_EQ(r.error().message.find("pw@"), std::string::npos);
}

TEST(HttpClient, InvalidRequestsAreRefusedBeforeSending) {
  RecordingServer server;
  HttpClient client;
  auto injected = client.send({.url = server.url("/"), .headers = {{"X", "a\r\nInjected: yes"}}});
  ASSERT_FALSE(injected);
  EXPECT_EQ(injected.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(client.send({.url = server.url("/"), .headers = {{"Bad:Name", "v"}}}));
  EXPECT_FALSE(client.send({.method = "GET /x", .url = server.url("/")}));
  EXPECT_FALSE(client.send({.url = ""}));
  auto file = client.send({.url = "file:///etc/passwd"});
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code, Code::kInvalidArgument) << file.error().toString();
}

TEST(HttpClient, OversizedResponsesAreRefused) {
  RecordingServer server;
  HttpClient client;
  auto exact = client.send({.url = server.url("/big?n=4096"), .maxResponseBytes = 4096});
  ASSERT_TRUE(exact) << exact.error().toString();
  EXPECT_EQ(exact->body.size(), 4096u);

  // Announced by Content-Length: refused before the body is read.
  auto announced = client.send({.url = server.url("/big?n=4097"), .maxResponseBytes = 4096});
  ASSERT_FALSE(announced);
  EXPECT_EQ(announced.error().code, Code::kResourceExhausted) << announced.error().toString();

  // Not announced (the body runs until the connection closes): cut off while reading.
  testing::CannedServer canned("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                               std::string(200000, 'z'));
  auto unannounced = client.send({.url = "http://127.0.0.1:" + std::to_string(canned.port()) + "/",
                                  .maxResponseBytes = 100000});
  ASSERT_FALSE(unannounced);
  EXPECT_EQ(unannounced.error().code, Code::kResourceExhausted) << unannounced.error().toString();

  auto enough = client.send({.url = "http://127.0.0.1:" + std::to_string(canned.port()) + "/",
                             .maxResponseBytes = 200000});
  ASSERT_TRUE(enough) << enough.error().toString();
  EXPECT_EQ(enough->body.size(), 200000u);
}

TEST(HttpClient, OnlyTheFinalResponsesHeadersAreKept) {
  testing::CannedServer canned(
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
      "HTTP/1.1 201 Created\r\nX-Final: 2\r\nContent-Length: 2\r\n\r\nok");
  auto r = HttpClient().send(
      {.method = "POST", .url = "http://127.0.0.1:" + std::to_string(canned.port()) + "/"});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->header("x-final"), "2");
  EXPECT_EQ(r->header("x-interim"), "");
  EXPECT_EQ(r->body, "ok");
}

// Found by fuzz_http_response: libcurl passes on header lines that hold a CR (here one that
// starts with a bare CR, and one with a CR inside its value) and names with spaces; such lines
// are no header fields and are dropped.
TEST(HttpClient, HeaderLinesWithCarriageReturnsOrBadNamesAreDropped) {
  for (std::string reply :
       {std::string("HTTP/1.0 200 OK\n\rC\x94\x94ontent-Type: text/plain\r\n\r\nbody"),
        std::string("HTTP/1.1 200 OK\r\nX-Ok: 1\r\nBad Name: 2\r\nX-Cr: a\rb\r\n"
                    "Content-Length: 4\r\n\r\nbody")}) {
    testing::CannedServer canned(reply);
    auto r = HttpClient().send({.url = "http://127.0.0.1:" + std::to_string(canned.port()) + "/"});
    ASSERT_TRUE(r) << r.error().toString();
    EXPECT_EQ(r->status, 200);
    for (const auto& [name, value] : r->headers) {
      EXPECT_EQ(name.find_first_of("\r\n "), std::string::npos) << name;
      EXPECT_EQ(value.find_first_of("\r\n"), std::string::npos) << value;
    }
    EXPECT_EQ(r->header("x-cr"), "");
    EXPECT_EQ(r->header("bad name"), "");
    if (reply.starts_with("HTTP/1.1")) {
      EXPECT_EQ(r->header("x-ok"), "1");
      EXPECT_EQ(r->body, "body");
    }
  }
}

// Found by fuzz_http_response: libcurl reads "HTTP/21.1 500" as status 1 and succeeds.
TEST(HttpClient, MalformedStatusLinesAreUnavailable) {
  for (std::string reply : {"HTTP/21.1 500 Internal\r\nContent-Length: 0\r\n\r\n",
                            "HTTP/1.1 600 Beyond\r\nContent-Length: 0\r\n\r\n"}) {
    testing::CannedServer canned(reply);
    auto r = HttpClient().send({.url = "http://127.0.0.1:" + std::to_string(canned.port()) + "/"});
    ASSERT_FALSE(r) << reply << " gave status " << r->status;
    EXPECT_EQ(r.error().code, Code::kUnavailable);
    EXPECT_NE(r.error().message.find("malformed HTTP status line"), std::string::npos)
        << r.error().message;
  }
}

TEST(HttpClient, TalksOverAUnixSocket) {
  std::string dir = std::filesystem::temp_directory_path() / "pp-net-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  {
    RecordingServer server({.unixSocket = dir + "/docker.sock"});
    auto r = HttpClient().send({.method = "POST",
                                .url = "http://localhost/v1.41/containers/create?name=podvm-x",
                                .body = "{}",
                                .unixSocket = dir + "/docker.sock"});
    ASSERT_TRUE(r) << r.error().toString();
    EXPECT_EQ(r->body, "POST:{}");
    EXPECT_EQ(server.last().path, "/v1.41/containers/create");
    EXPECT_EQ(server.last().queryParam("name"), "podvm-x");
  }
  auto gone =
      HttpClient().send({.url = "http://localhost/_ping", .unixSocket = dir + "/docker.sock"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Code::kUnavailable);
  std::filesystem::remove_all(dir);
}

TEST(HttpClient, IsSafeToUseFromManyThreads) {
  RecordingServer server;
  HttpClient client;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      HttpClient copy = client;  // copies share connections too
      for (int i = 0; i < 20; ++i) {
        std::string body = std::to_string(t) + "-" + std::to_string(i);
        auto r =
            (i % 2 ? copy : client).send({.method = "PUT", .url = server.url("/p"), .body = body});
        if (r && r->body == "PUT:" + body) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
  // Connections were reused: far fewer than one per request.
  EXPECT_LE(server.server().connectionsAccepted(), 40u);
}

TEST(HttpClient, UrlEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(urlEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(urlEncode("a b/c?d=e&f+g"), "a%20b%2Fc%3Fd%3De%26f%2Bg");
  EXPECT_EQ(urlEncode("\xe2\x82\xac"), "%E2%82%AC");
  EXPECT_EQ(urlEncode(std::string_view("\0", 1)), "%00");
  EXPECT_EQ(urlEncode(""), "");
  EXPECT_EQ(percentDecode(urlEncode("round trip: ü/%+"), false), "round trip: ü/%+");
}

}  // namespace
}  // namespace pp::net

namespace pp::net {
namespace {

TEST(HttpClient, MetadataServicesAreRecognisedAndNeverProxied) {
  EXPECT_TRUE(isMetadataServiceUrl("http://169.254.169.254/latest/api/token"));
  EXPECT_TRUE(
      isMetadataServiceUrl("http://169.254.169.254:80/metadata/instance?api-version=2021-01-01"));
  EXPECT_TRUE(isMetadataServiceUrl("http://[fd00:ec2::254]/latest/meta-data/"));
  EXPECT_TRUE(isMetadataServiceUrl("http://[FE80::1]/"));
  EXPECT_TRUE(isMetadataServiceUrl("http://100.100.100.200/latest/user-data"));
  EXPECT_TRUE(isMetadataServiceUrl("http://Metadata.Google.Internal/computeMetadata/v1/"));
  EXPECT_FALSE(isMetadataServiceUrl("https://ec2.us-east-1.amazonaws.com/"));
  EXPECT_FALSE(isMetadataServiceUrl("http://169.254.169.254.evil.example/"));
  EXPECT_FALSE(isMetadataServiceUrl("http://127.0.0.1:8080/"));
  EXPECT_FALSE(isMetadataServiceUrl("not a url"));
}

}  // namespace
}  // namespace pp::net

namespace pp::net {
namespace {

TEST(CodeForHttpStatusTest, CommonRestStatusesAndTheFallback) {
  EXPECT_EQ(codeForHttpStatus(400, Code::kUnknown), Code::kInvalidArgument);
  EXPECT_EQ(codeForHttpStatus(401, Code::kUnknown), Code::kUnauthenticated);
  EXPECT_EQ(codeForHttpStatus(403, Code::kUnknown), Code::kPermissionDenied);
  EXPECT_EQ(codeForHttpStatus(404, Code::kUnknown), Code::kNotFound);
  EXPECT_EQ(codeForHttpStatus(409, Code::kUnknown), Code::kAlreadyExists);
  EXPECT_EQ(codeForHttpStatus(429, Code::kUnknown), Code::kResourceExhausted);
  EXPECT_EQ(codeForHttpStatus(500, Code::kUnknown), Code::kUnavailable);
  EXPECT_EQ(codeForHttpStatus(503, Code::kUnknown), Code::kUnavailable);
  EXPECT_EQ(codeForHttpStatus(418, Code::kFailedPrecondition), Code::kFailedPrecondition);
  EXPECT_EQ(codeForHttpStatus(302, Code::kUnknown), Code::kUnknown);
}

}  // namespace
}  // namespace pp::net
