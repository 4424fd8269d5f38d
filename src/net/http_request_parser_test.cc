#include "net/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace pp::net {
namespace {

using State = RequestParser::State;

RequestLimits smallLimits() {
  return RequestLimits{.maxHeaderBytes = 256, .maxBodyBytes = 64};
}

// Feeds all of `data` at once; returns the bytes consumed.
size_t feedAll(RequestParser& p, std::string_view data) {
  return p.feed(data);
}

// Feeds `data` one byte at a time, as a slow client would deliver it.
void feedBytewise(RequestParser& p, std::string_view data) {
  for (size_t i = 0; i < data.size() && p.state() == State::kNeedMore; ++i) {
    ASSERT_EQ(p.feed(data.substr(i, 1)), 1u) << "at byte " << i;
  }
}

TEST(HttpRequestParser, ParsesGetWithQueryAndHeaders) {
  RequestParser p({});
  std::string req = "GET /a/b?x=1&y=two%20words HTTP/1.1\r\nHost: h\r\nX-Name:  value \t\r\n\r\n";
  EXPECT_EQ(feedAll(p, req), req.size());
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_TRUE(p.keepAlive());
  ServerRequest r = p.take();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/a/b?x=1&y=two%20words");
  EXPECT_EQ(r.path, "/a/b");
  EXPECT_EQ(r.query, "x=1&y=two%20words");
  EXPECT_EQ(r.header("x-name"), "value");
  EXPECT_EQ(r.header("HOST"), "h");
  EXPECT_EQ(r.header("missing"), "");
  EXPECT_EQ(r.queryParam("y"), "two words");
  EXPECT_EQ(r.queryParam("x"), "1");
  EXPECT_EQ(r.queryParam("z"), std::nullopt);
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpRequestParser, BytewiseDeliveryGivesTheSameRequest) {
  RequestParser p({});
  feedBytewise(p, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_EQ(p.state(), State::kComplete);
  ServerRequest r = p.take();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.body, "hello");
}

TEST(HttpRequestParser, StopsAtTheEndOfARequestSoPipelinedOnesStay) {
  RequestParser p({});
  std::string first = "PUT /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  std::string second = "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string both = first + second;
  size_t used = p.feed(both);
  EXPECT_EQ(used, first.size());
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.take().body, "abc");
  p.reset();
  EXPECT_EQ(p.feed(std::string_view(both).substr(used)), second.size());
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.take().path, "/2");
}

// Found by fuzz_http_request: a bare LF after the head (in the body, or in the next pipelined
// request) that arrived in the same read made the whole request a 400.
TEST(HttpRequestParser, BareLfAfterTheHeadBelongsToTheBodyOrTheNextRequest) {
  RequestParser p({});
  std::string req = "POST /mutate HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n{\n  \"a\"}";
  EXPECT_EQ(feedAll(p, req), req.size());
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.take().body, "{\n  \"a\"}");

  p.reset();
  std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string pipelined = first + "GET /b HTTP/1.1\nHost: h\n\n";
  EXPECT_EQ(feedAll(p, pipelined), first.size());
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.take().path, "/a");
  p.reset();
  feedAll(p, std::string_view(pipelined).substr(first.size()));
  EXPECT_EQ(p.state(), State::kError);
  EXPECT_EQ(p.errorStatus(), 400);
}

TEST(HttpRequestParser, DecodesChunkedBodiesWithExtensionsAndTrailers) {
  std::string req =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "6\r\n world\r\n"
      "0\r\nX-Trailer: t\r\n\r\n";
  for (bool bytewise : {false, true}) {
    RequestParser p({});
    if (bytewise) {
      feedBytewise(p, req);
    } else {
      EXPECT_EQ(p.feed(req), req.size());
    }
    ASSERT_EQ(p.state(), State::kComplete);
    EXPECT_EQ(p.take().body, "hello world");
  }
}

TEST(HttpRequestParser, IgnoresEmptyLinesBeforeTheRequestLine) {
  RequestParser p({});
  p.feed("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.take().path, "/");
}

// Found by fuzz_http_request: an empty line before the request line whose CR and LF arrived in
// two reads was taken as the start of the head, and the request that followed became a 400.
TEST(HttpRequestParser, EmptyLineSplitBetweenReadsIsIgnoredToo) {
  RequestParser p({});
  for (std::string_view piece : {"\r", "\n\r", "\n", "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"})
    EXPECT_EQ(p.feed(piece), piece.size()) << piece;
  ASSERT_EQ(p.state(), State::kComplete) << p.errorMessage();
  EXPECT_EQ(p.take().path, "/b");

  RequestParser bytewise({});
  feedBytewise(bytewise, "\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(bytewise.state(), State::kComplete) << bytewise.errorMessage();
  EXPECT_EQ(bytewise.take().path, "/c");
}

TEST(HttpRequestParser, AbsoluteFormTargetGivesThePath) {
  RequestParser p({});
  p.feed("GET http://example.com:8080/x/y?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(p.state(), State::kComplete);
  ServerRequest r = p.take();
  EXPECT_EQ(r.path, "/x/y");
  EXPECT_EQ(r.query, "q=1");
}

TEST(HttpRequestParser, KeepAliveFollowsVersionAndConnectionHeader) {
  struct Case {
    std::string request;
    bool keepAlive;
  };
  for (const Case& c : {
           Case{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
           Case{"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
           Case{"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n", false},
           Case{"GET / HTTP/1.0\r\n\r\n", false},
           Case{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
       }) {
    RequestParser p({});
    p.feed(c.request);
    ASSERT_EQ(p.state(), State::kComplete) << c.request;
    EXPECT_EQ(p.keepAlive(), c.keepAlive) << c.request;
  }
}

TEST(HttpRequestParser, AsksForContinueOnlyBeforeTheBodyArrives) {
  RequestParser p({});
  p.feed("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(p.state(), State::kNeedMore);
  EXPECT_TRUE(p.expectsContinue());
  p.feed("o");
  EXPECT_FALSE(p.expectsContinue());
  p.feed("k");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_FALSE(p.expectsContinue());
}

TEST(HttpRequestParser, HeadRequestIsFlagged) {
  RequestParser p({});
  p.feed("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_TRUE(p.isHead());
}

struct BadCase {
  const char* name;
  std::string request;
  int status;
};

// Keeps ctest's test names readable (gtest would print the bytes of the struct).
void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

class HttpRequestParserRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(HttpRequestParserRejects, WithTheRightStatus) {
  const BadCase& c = GetParam();
  for (bool bytewise : {false, true}) {
    RequestParser p(smallLimits());
    if (bytewise) {
      feedBytewise(p, c.request);
    } else {
      p.feed(c.request);
    }
    ASSERT_EQ(p.state(), State::kError) << c.name << (bytewise ? " (bytewise)" : "");
    EXPECT_EQ(p.errorStatus(), c.status) << c.name << ": " << p.errorMessage();
    EXPECT_FALSE(p.errorMessage().empty());
    EXPECT_FALSE(p.keepAlive());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, HttpRequestParserRejects,
    ::testing::Values(
        BadCase{"MissingHost", "GET / HTTP/1.1\r\n\r\n", 400},
        BadCase{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        BadCase{"BareLf", "GET / HTTP/1.1\nHost: h\n\n", 400},
        BadCase{"ObsFold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400},
        BadCase{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        BadCase{"NoColon", "GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n", 400},
        BadCase{"ControlInValue", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 400},
        BadCase{"ExtraSpaceInRequestLine", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        BadCase{"NoVersion", "GET /\r\nHost: h\r\n\r\n", 400},
        BadCase{"BadMethod", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        BadCase{"RelativeTarget", "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        BadCase{"TargetWithDel", "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        BadCase{"GarbageVersion", "GET / HTXP/1.1\r\nHost: h\r\n\r\n", 400},
        BadCase{"Http2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        BadCase{
            "LengthAndChunked",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400},
        BadCase{"DifferingLengths",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                400},
        BadCase{"DifferingLengthList", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n",
                400},
        BadCase{"NegativeLength", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        BadCase{"PlusLength", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400},
        BadCase{"HexLength", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400},
        BadCase{"HugeLength",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                400},
        BadCase{"EmptyLength", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
        BadCase{"GzipCoding",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        BadCase{"ChunkedTwice",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501},
        BadCase{"ChunkedInHttp10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        BadCase{"BodyTooLarge", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n", 413},
        BadCase{"ChunkTooLarge",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", 413},
        BadCase{"ChunksTooLarge",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
                    std::string("20\r\n") + std::string(32, 'a') + "\r\n21\r\n",
                413},
        BadCase{"ChunkSizeOverflow",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                "fffffffffffffffffffff\r\n",
                413},
        BadCase{"ChunkSizeNotHex",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
        BadCase{"ChunkWithoutCrlf",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400},
        BadCase{"ChunkLineBareLf",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n", 400},
        BadCase{"HeaderTooLarge",
                "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(300, 'a') + "\r\n\r\n", 431},
        BadCase{"TrailersTooLarge",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
                    std::string(300, 'a') + "\r\n\r\n",
                431}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(HttpRequestParser, HeaderExactlyAtTheLimitIsAccepted) {
  std::string start = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  std::string end = "\r\n\r\n";
  std::string req = start + std::string(256 - start.size() - end.size(), 'a') + end;
  ASSERT_EQ(req.size(), 256u);
  RequestParser p(smallLimits());
  p.feed(req);
  EXPECT_EQ(p.state(), State::kComplete) << p.errorMessage();
}

TEST(HttpRequestParser, ResetAllowsTheNextRequestAfterAnError) {
  RequestParser p({});
  p.feed("BROKEN\r\n\r\n");
  ASSERT_EQ(p.state(), State::kError);
  EXPECT_EQ(p.feed("more"), 0u);  // nothing is consumed after an error
  p.reset();
  p.feed("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.take().path, "/ok");
}

TEST(HttpRequest, PercentDecodeKeepsMalformedEscapes) {
  EXPECT_EQ(percentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(percentDecode("a%20b+c", false), "a b+c");
  EXPECT_EQ(percentDecode("100%", true), "100%");
  EXPECT_EQ(percentDecode("%zz%4", true), "%zz%4");
  EXPECT_EQ(percentDecode("%e2%82%AC", true), "\xe2\x82\xac");
}

TEST(HttpRequest, QueryParamWithoutValueAndEncodedName) {
  ServerRequest r;
  r.query = "flag&na%6De=v%3D1&empty=";
  EXPECT_EQ(r.queryParam("flag"), "");
  EXPECT_EQ(r.queryParam("name"), "v=1");
  EXPECT_EQ(r.queryParam("empty"), "");
  EXPECT_EQ(r.queryParam("fla"), std::nullopt);
}

}  // namespace
}  // namespace pp::net
