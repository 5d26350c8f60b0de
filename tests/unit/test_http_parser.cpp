// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <string>

#include "core/http/parser.hpp"
#include "support/http_transcript.hpp"

using namespace vaultfwd::http;
using vaultfwd::http::testing::parse_all;
using vaultfwd::http::testing::Transcript;
using namespace std::string_literals;

namespace {

constexpr auto k_request = Parser::Kind::request;
constexpr auto k_response = Parser::Kind::response;

// Parses in one piece, byte by byte and in 7-byte pieces, checks the three agree and that no
// contract broke, and returns the one-piece transcript.
Transcript parse(Parser::Kind kind, const std::string& input, ParseLimits limits = {}, std::string_view method = "GET") {
    Transcript whole = parse_all(kind, input, 0, limits, method);
    Transcript bytes = parse_all(kind, input, 1, limits, method);
    Transcript sevens = parse_all(kind, input, 7, limits, method);
    CHECK_MESSAGE(whole.contract.empty(), whole.contract);
    CHECK_MESSAGE(bytes.contract.empty(), bytes.contract);
    CHECK_MESSAGE(sevens.contract.empty(), sevens.contract);
    CHECK_MESSAGE(vaultfwd::http::testing::same(whole, bytes), "byte by byte differs for: " << input.substr(0, 200));
    CHECK_MESSAGE(vaultfwd::http::testing::same(whole, sevens), "7-byte pieces differ for: " << input.substr(0, 200));
    return whole;
}

struct Refused {
    const char* name;
    std::string input;
    int status;
    const char* code;
    const char* header = "";
};

// Small limits, so that the refusal rows reach them with short inputs.
ParseLimits small_limits() {
    ParseLimits limits;
    limits.max_head_bytes = 256;
    limits.max_header_line = 64;
    limits.max_body_bytes = 100;
    return limits;
}

void check_refused(Parser::Kind kind, const Refused& r) {
    CAPTURE(r.name);
    auto t = parse(kind, r.input, small_limits());
    REQUIRE(t.failed);
    CHECK(t.error.status == r.status);
    CHECK(t.error.code == r.code);
    CHECK(t.error.header == r.header);
    CHECK(!t.error.message.empty());
    // Messages never quote a header value.
    CHECK(t.error.message.find("secret") == std::string::npos);
}

} // namespace

TEST_CASE("http parser: a request head keeps target, names, values and order byte for byte") {
    std::string in = "GET /a%2Fb?c=%20d&e=/f HTTP/1.1\r\n"
                     "Host: example.com\r\n"
                     "x-Mixed-CASE:  spaced   inside \t\r\n"
                     "Set-Cookie: a=1\r\n"
                     "set-cookie: b=2\r\n"
                     "X-Empty:\r\n"
                     "X-Utf8: caf\xc3\xa9\r\n"
                     "\r\n";
    auto t = parse(k_request, in);
    REQUIRE(!t.failed);
    REQUIRE(t.messages.size() == 1);
    const Head& h = t.messages[0].head;
    CHECK(h.method == "GET");
    CHECK(h.target == "/a%2Fb?c=%20d&e=/f");
    CHECK(h.version_minor == 1);
    REQUIRE(h.headers.size() == 6);
    CHECK(h.headers[1].name == "x-Mixed-CASE");
    CHECK(h.headers[1].value == "spaced   inside");
    CHECK(h.headers[2].name == "Set-Cookie");
    CHECK(h.headers[3].name == "set-cookie");
    CHECK(h.headers[3].value == "b=2");
    CHECK(h.headers[4].value.empty());
    CHECK(h.headers[5].value == "caf\xc3\xa9");
    CHECK(h.body == BodyKind::none);
    CHECK(h.keep_alive);
    CHECK(h.head_bytes == in.size());
    CHECK(t.messages[0].body.empty());
}

TEST_CASE("http parser: Content-Length body, stray CRLF between messages, keep-alive and Expect") {
    auto t = parse(k_request, "POST /x HTTP/1.0\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
                              "Expect: 100-continue\r\n\r\nhello\r\n"
                              "PUT /y HTTP/1.1\r\nContent-Length: 0\r\nConnection: foo, close\r\n\r\n");
    REQUIRE(!t.failed);
    REQUIRE(t.messages.size() == 2);
    CHECK(t.messages[0].head.body == BodyKind::length);
    CHECK(t.messages[0].head.content_length == 5);
    CHECK(t.messages[0].body == "hello");
    CHECK(t.messages[0].head.version_minor == 0);
    CHECK(t.messages[0].head.keep_alive);
    CHECK(t.messages[0].head.expect_continue);
    CHECK(t.messages[1].head.body == BodyKind::length);
    CHECK(t.messages[1].head.content_length == 0);
    CHECK(!t.messages[1].head.keep_alive);
    CHECK(!t.messages[1].head.expect_continue);
    CHECK(!parse(k_request, "GET / HTTP/1.0\r\n\r\n").messages.at(0).head.keep_alive);
}

TEST_CASE("http parser: pipelining stops at message_end and leaves the rest for the next message") {
    std::string in = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\n\r\n";
    Parser p(k_request);
    std::string_view rest = in;
    std::size_t used = 0;
    REQUIRE(p.next(rest, used) == Parser::Event::head);
    CHECK(p.head().target == "/a");
    rest.remove_prefix(used);
    REQUIRE(p.next(rest, used) == Parser::Event::message_end);
    CHECK(used == 0);
    CHECK(p.idle());
    CHECK(rest.substr(0, 7) == "POST /b");
    REQUIRE(p.next(rest, used) == Parser::Event::head);
    CHECK(p.head().target == "/b");
    CHECK(!p.idle());
    rest.remove_prefix(used);
    REQUIRE(p.next(rest, used) == Parser::Event::body);
    CHECK(p.body_piece() == "abc");
    CHECK(p.body_piece().data() == rest.data()); // a view of the input, not a copy
    rest.remove_prefix(used);
    REQUIRE(p.next(rest, used) == Parser::Event::message_end);
    CHECK(rest == "GET /c HTTP/1.1\r\n\r\n");
    REQUIRE(p.next(rest, used) == Parser::Event::head);
    CHECK(p.head().target == "/c");
    rest.remove_prefix(used);
    CHECK(rest.empty());
    REQUIRE(p.next(rest, used) == Parser::Event::message_end);
    CHECK(p.next(rest, used) == Parser::Event::need_more);
    CHECK(p.finish() == Parser::Event::need_more);

    auto t = parse(k_request, in);
    REQUIRE(t.messages.size() == 3);
    CHECK(t.messages[1].body == "abc");
}

TEST_CASE("http parser: chunked with extensions and trailers") {
    std::string in = "POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                     "5;name=value;flag;q=\"a \\\"b\\\"\"\r\nhello\r\n"
                     "00000000000000000000000006\r\n world\r\n"
                     "0\r\nX-Sum: abc\r\nx-sum:  def \r\n\r\n"
                     "GET /next HTTP/1.1\r\n\r\n";
    auto t = parse(k_request, in);
    REQUIRE(!t.failed);
    REQUIRE(t.messages.size() == 2);
    CHECK(t.messages[0].head.body == BodyKind::chunked);
    CHECK(t.messages[0].body == "hello world");
    REQUIRE(t.messages[0].trailers.size() == 2);
    CHECK(t.messages[0].trailers[0].name == "X-Sum");
    CHECK(t.messages[0].trailers[1].value == "def");
    CHECK(t.messages[1].head.target == "/next");
    CHECK(t.messages[1].trailers.empty());

    auto bare = parse(k_request, "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    REQUIRE(bare.messages.size() == 1);
    CHECK(bare.messages[0].body.empty());
}

TEST_CASE("http parser: every refusal of a request, in one piece and byte by byte alike") {
    const std::string post = "POST /p HTTP/1.1\r\nHost: a\r\n";
    const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
    const Refused rows[] = {
        // llhttp refuses this request-smuggling shape: a bare LF between header lines.
        {"bare LF between header lines", "GET / HTTP/1.1\r\nDummy: x\nContent-Length: 23\r\n\r\nGET / HTTP/1.1\r\nDummy: GET /admin HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request.malformed"},
        {"bare LF after the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "request.malformed"},
        {"LF LF ends the head", "GET / HTTP/1.1\n\n", 400, "request.malformed"},
        {"bare CR in a value", "GET / HTTP/1.1\r\nA: secret\rc\r\n\r\n", 400, "request.malformed", "A"},
        {"CR in a header name", "PUT /url HTTP/1.1\r\nContent\rLength: 003\r\n\r\nabc", 400, "request.malformed"},
        {"NUL in a value", "GET / HTTP/1.1\r\nA: secret\0c\r\n\r\n"s, 400, "request.malformed", "A"},
        {"DEL in a value", "GET / HTTP/1.1\r\nA: secret\x7f\r\n\r\n", 400, "request.malformed", "A"},
        {"obs-fold", "GET / HTTP/1.1\r\nA: one\r\n two\r\n\r\n", 400, "request.malformed"},
        {"no colon", "GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400, "request.malformed"},
        {"space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "request.malformed"},
        {"empty header name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "request.malformed"},
        {"name with a separator", "GET / HTTP/1.1\r\nA(b): c\r\n\r\n", 400, "request.malformed"},
        {"garbage request line", "HELLO\r\n\r\n", 400, "request.malformed"},
        {"two spaces in the request line", "GET  / HTTP/1.1\r\n\r\n", 400, "request.malformed"},
        {"trailing space in the request line", "GET / HTTP/1.1 \r\n\r\n", 400, "request.malformed"},
        {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "request.malformed"},
        {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 400, "request.malformed"},
        {"lowercase version", "GET / http/1.1\r\n\r\n", 400, "request.malformed"},
        {"method with a separator", "G@T / HTTP/1.1\r\n\r\n", 400, "request.malformed"},
        {"unknown method", "FOO / HTTP/1.1\r\n\r\n", 400, "request.malformed"},
        {"lowercase method", "get / HTTP/1.1\r\n\r\n", 400, "request.malformed"},
        {"NUL in the target", "GET /healthz\0x HTTP/1.1\r\nHost: a\r\n\r\n"s, 400, "request.malformed"},
        {"a byte above 0x7e in the target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "request.malformed"},
        {"TLS handshake", "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00\r\n\r\n"s, 400, "request.malformed"},
        {"two different Content-Lengths", post + "Content-Length: 2\r\nContent-Length: 5\r\n\r\nhello", 400, "request.malformed"},
        {"two equal Content-Lengths", post + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, "request.malformed"},
        {"a Content-Length list", post + "Content-Length: 1, 1\r\n\r\nx", 400, "request.malformed"},
        {"negative Content-Length", post + "Content-Length: -1\r\n\r\nx", 400, "request.malformed"},
        {"plus-signed Content-Length", post + "Content-Length: +1\r\n\r\nx", 400, "request.malformed"},
        {"hex Content-Length", post + "Content-Length: 0x10\r\n\r\n", 400, "request.malformed"},
        {"empty Content-Length", post + "Content-Length:\r\n\r\n", 400, "request.malformed"},
        {"Content-Length over 2^64", post + "Content-Length: 99999999999999999999999\r\n\r\n", 413, "request.too_large"},
        {"Content-Length over the limit", post + "Content-Length: 101\r\n\r\n", 413, "request.too_large"},
        {"Content-Length with Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, "request.malformed"},
        {"Transfer-Encoding gzip", post + "Transfer-Encoding: gzip\r\n\r\nx", 400, "request.malformed"},
        {"Transfer-Encoding gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, "request.malformed"},
        {"Transfer-Encoding given twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "request.malformed"},
        {"POST without a length", post + "\r\n", 411, "request.length_required"},
        {"PUT without a length", "PUT / HTTP/1.1\r\n\r\n", 411, "request.length_required"},
        {"PATCH without a length", "PATCH / HTTP/1.1\r\n\r\n", 411, "request.length_required"},
        {"head over max_head_bytes", "GET / HTTP/1.1\r\n" + std::string(300, 'a') + ": b\r\n\r\n", 431, "request.header_too_large"},
        {"head without an end over max_head_bytes", "GET / HTTP/1.1\r\nA: " + std::string(300, 'b'), 431, "request.header_too_large"},
        {"one header line over max_header_line", "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'b') + "\r\n\r\n", 431, "request.header_too_large", "X-Long"},
        {"bad chunk size", chunked + "zz\r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"empty chunk size", chunked + "\r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"space after the chunk size", chunked + "3 \r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"negative chunk size", chunked + "-3\r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk size with a bare LF", chunked + "3\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk longer than its size", chunked + "3\r\nabcd\r\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk data followed by a bare CR", chunked + "3\r\nabc\rx0\r\n\r\n", 400, "request.malformed"},
        {"chunk data followed by a bare LF", chunked + "3\r\nabc\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk extension with a space", chunked + "3; a=b\r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk extension without a name", chunked + "3;=b\r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk extension with an unclosed quote", chunked + "3;a=\"b\r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk line over 4096 bytes", chunked + "3;a=" + std::string(5000, 'b') + "\r\nabc\r\n0\r\n\r\n", 400, "request.malformed"},
        {"chunk size over 2^64", chunked + "100000000000000000\r\nabc\r\n0\r\n\r\n", 413, "request.too_large"},
        {"chunked total over the limit", chunked + "40\r\n" + std::string(64, 'a') + "\r\n40\r\n" + std::string(64, 'a') + "\r\n0\r\n\r\n", 413, "request.too_large"},
        {"trailer without a colon", chunked + "0\r\nno colon\r\n\r\n", 400, "request.malformed"},
        {"trailer with obs-fold", chunked + "0\r\nA: b\r\n c\r\n\r\n", 400, "request.malformed"},
        {"trailer with a bare LF", chunked + "0\r\nA: b\n\r\n", 400, "request.malformed"},
        {"trailer with a control byte", chunked + "0\r\nA: secret\x01\r\n\r\n", 400, "request.malformed", "A"},
        {"trailers over max_head_bytes", chunked + "0\r\n" + std::string(300, 'a') + ": b\r\n\r\n", 431, "request.header_too_large"},
        {"cut short in the head", "GET / HTTP/1.1\r\nHost: a\r\n", 400, "request.malformed"},
        {"cut short in the body", post + "Content-Length: 5\r\n\r\nabc", 400, "request.malformed"},
        {"cut short in a chunk", chunked + "5\r\nabc", 400, "request.malformed"},
        {"cut short before the trailers end", chunked + "0\r\n", 400, "request.malformed"},
    };
    for (const auto& r : rows)
        check_refused(k_request, r);
}

TEST_CASE("http parser: the refusal names the target when the request line was readable") {
    auto t = parse(k_request, "POST /where?x=1 HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    REQUIRE(t.failed);
    CHECK(t.error.target == "/where?x=1");
    auto garbage = parse(k_request, "GET /a HTTP/1.1\r\n\r\nNOT_A_REQUEST_LINE\r\n\r\n");
    REQUIRE(garbage.failed);
    CHECK(garbage.messages.size() == 1);
    CHECK(garbage.error.target.empty());
}

TEST_CASE("http parser: a CONNECT request has no body; what follows is the tunnel's") {
    Parser p(k_request);
    std::string in = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nContent-Length: 3\r\n\r\n\x16\x03\x01";
    std::size_t used = 0;
    REQUIRE(p.next(in, used) == Parser::Event::head);
    CHECK(p.head().body == BodyKind::none);
    CHECK(p.head().target == "a.example:443");
    std::string_view rest = std::string_view(in).substr(used);
    REQUIRE(p.next(rest, used) == Parser::Event::message_end);
    CHECK(rest == "\x16\x03\x01");
}

TEST_CASE("http parser: a refusal says which line of the head is at fault") {
    auto line_of = [](const std::string& in) {
        auto t = parse(k_request, in);
        REQUIRE(t.failed);
        return t.error.line;
    };
    CHECK(line_of("GET / HTTP/9\r\n\r\n") == 1);
    CHECK(line_of("GET / HTTP/1.1\r\nA: b\r\nDummy: x\nContent-Length: 23\r\n\r\n") == 3);
    CHECK(line_of("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n") == 3);
    CHECK(line_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nA: b\r\nContent-Length: 1\r\n\r\nx") == 4);
    CHECK(line_of("POST / HTTP/1.1\r\nA: b\r\nTransfer-Encoding: gzip\r\n\r\n") == 3);
    CHECK(line_of("POST / HTTP/1.1\r\nA: b\r\n\r\n") == 1);
    CHECK(line_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == 0);
}

TEST_CASE("http parser: without require_length_for_body_methods a POST without a length has no body") {
    ParseLimits limits;
    limits.require_length_for_body_methods = false;
    auto t = parse(k_request, "POST /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", limits);
    REQUIRE(!t.failed);
    REQUIRE(t.messages.size() == 2);
    CHECK(t.messages[0].head.body == BodyKind::none);
    CHECK(t.messages[1].head.target == "/b");
}

TEST_CASE("http parser: after a refusal the parser stays failed") {
    Parser p(k_request);
    std::size_t used = 0;
    REQUIRE(p.next("BAD\r\n\r\n", used) == Parser::Event::error);
    CHECK(p.next("GET / HTTP/1.1\r\n\r\n", used) == Parser::Event::error);
    CHECK(used == 0);
    CHECK(p.finish() == Parser::Event::error);
    CHECK(p.error().code == "request.malformed");
}

TEST_CASE("http parser: response framing") {
    SUBCASE("interim answers come before the final one") {
        auto t = parse(k_response, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                       {}, "HEAD");
        REQUIRE(t.messages.size() == 3);
        CHECK(t.messages[0].head.status == 100);
        CHECK(t.messages[1].head.headers.at(0).value == "</a>");
        // HEAD: the final answer has no body although it declares one.
        CHECK(t.messages[2].head.body == BodyKind::none);
        CHECK(t.messages[2].head.content_length == 2);
        CHECK(t.failed); // "ok" is not a response
        CHECK(t.error.status == 502);
        CHECK(t.error.code == "response.malformed");
    }
    SUBCASE("204 and 304 have no body") {
        auto t = parse(k_response, "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
        REQUIRE(!t.failed);
        REQUIRE(t.messages.size() == 2);
        CHECK(t.messages[0].head.body == BodyKind::none);
        CHECK(t.messages[1].head.body == BodyKind::none);
    }
    SUBCASE("a 2xx answer to CONNECT has no body, a 407 does") {
        auto ok = parse(k_response, "HTTP/1.1 200 Connection Established\r\n\r\n", {}, "CONNECT");
        REQUIRE(ok.messages.size() == 1);
        CHECK(ok.messages[0].head.body == BodyKind::none);
        CHECK(ok.messages[0].head.keep_alive);
        auto no = parse(k_response, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\nno!", {}, "CONNECT");
        REQUIRE(no.messages.size() == 1);
        CHECK(no.messages[0].body == "no!");
    }
    SUBCASE("no length and not chunked: the body runs until the close") {
        auto t = parse(k_response, "HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nall of\r\nthis");
        REQUIRE(!t.failed);
        REQUIRE(t.messages.size() == 1);
        CHECK(t.messages[0].head.body == BodyKind::until_close);
        CHECK(!t.messages[0].head.keep_alive);
        CHECK(t.messages[0].body == "all of\r\nthis");
        auto open = parse_all(k_response, "HTTP/1.1 200 OK\r\n\r\nsome", 0, {}, "GET", false);
        CHECK(open.partial);
        CHECK(open.messages.empty());
    }
    SUBCASE("Transfer-Encoding: chunked last frames the body; otherwise until the close") {
        auto t = parse(k_response, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
        REQUIRE(t.messages.size() == 1);
        CHECK(t.messages[0].head.body == BodyKind::chunked);
        CHECK(t.messages[0].body == "ok");
        auto gz = parse(k_response, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n2\r\nok");
        REQUIRE(gz.messages.size() == 1);
        CHECK(gz.messages[0].head.body == BodyKind::until_close);
        CHECK(gz.messages[0].body == "2\r\nok");
    }
    SUBCASE("a status line without a reason phrase") {
        auto t = parse(k_response, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 \r\nContent-Length: 0\r\n\r\n");
        REQUIRE(t.messages.size() == 2);
        CHECK(t.messages[0].head.reason.empty());
        CHECK(t.messages[1].head.status == 201);
    }
}

TEST_CASE("http parser: every refusal of a response is a 502") {
    const std::string ok = "HTTP/1.1 200 OK\r\n";
    const Refused rows[] = {
        {"bare LF between header lines", ok + "A: b\nContent-Length: 0\r\n\r\n", 502, "response.malformed"},
        {"not a status line", "HTTP/1.1 2OO OK\r\n\r\n", 502, "response.malformed"},
        {"status under 100", "HTTP/1.1 099 Odd\r\n\r\n", 502, "response.malformed"},
        {"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", 502, "response.malformed"},
        {"HTTP/2 status line", "HTTP/2 200 OK\r\n\r\n", 502, "response.malformed"},
        {"control byte in the reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 502, "response.malformed"},
        {"two Content-Lengths", ok + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 502, "response.malformed"},
        {"Content-Length with Transfer-Encoding", ok + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 502, "response.malformed"},
        {"chunked not last", ok + "Transfer-Encoding: chunked, gzip\r\n\r\n", 502, "response.malformed"},
        {"chunked twice", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 502, "response.malformed"},
        {"empty Transfer-Encoding", ok + "Transfer-Encoding: \r\n\r\n", 502, "response.malformed"},
        {"Content-Length over the limit", ok + "Content-Length: 101\r\n\r\n", 502, "response.too_large"},
        {"body until the close over the limit", ok + "\r\n" + std::string(101, 'a'), 502, "response.too_large"},
        {"head over the limit", ok + std::string(300, 'a') + ": b\r\n\r\n", 502, "response.too_large"},
        {"header line over the limit", ok + "X-Long: " + std::string(100, 'b') + "\r\n\r\n", 502, "response.too_large", "X-Long"},
        {"cut short in the body", ok + "Content-Length: 5\r\n\r\nabc", 502, "response.malformed"},
        {"bad chunk", ok + "Transfer-Encoding: chunked\r\n\r\nq\r\n", 502, "response.malformed"},
    };
    for (const auto& r : rows)
        check_refused(k_response, r);
}

TEST_CASE("http parser: the writers' output parses back to the same message") {
    Head req;
    req.method = "POST";
    req.target = "/a%2Fb?c=%20d";
    req.headers = {{"Host", "x"}, {"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}, {"Transfer-Encoding", "chunked"}};
    std::string out;
    write_request_head(out, req);
    CHECK(out == "POST /a%2Fb?c=%20d HTTP/1.1\r\nHost: x\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n");
    write_chunk(out, "hello ");
    write_chunk(out, "");
    write_chunk(out, std::string(300, 'w'));
    write_last_chunk(out, {{"X-T", "1"}});
    auto t = parse(k_request, out);
    REQUIRE(!t.failed);
    REQUIRE(t.messages.size() == 1);
    CHECK(t.messages[0].head.target == req.target);
    CHECK(vaultfwd::http::testing::same_headers(t.messages[0].head.headers, req.headers));
    CHECK(t.messages[0].body == "hello " + std::string(300, 'w'));
    REQUIRE(t.messages[0].trailers.size() == 1);
    CHECK(t.messages[0].trailers[0].name == "X-T");

    Head res;
    res.status = 404;
    res.version_minor = 0;
    res.headers = {{"Content-Length", "0"}};
    std::string r;
    write_response_head(r, res);
    CHECK(r == "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    res.reason = "Nope";
    r.clear();
    write_response_head(r, res);
    auto rt = parse(k_response, r);
    REQUIRE(rt.messages.size() == 1);
    CHECK(rt.messages[0].head.reason == "Nope");
    CHECK(rt.messages[0].head.status == 404);
    std::string last;
    write_last_chunk(last);
    CHECK(last == "0\r\n\r\n");
}
