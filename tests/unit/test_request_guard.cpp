// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <vector>

#include "core/server/request_guard.hpp"

using namespace vaultfwd::server;

namespace {

struct Fed {
    std::string out;
    std::optional<Refusal> refusal;
};

// Feeds `bytes` in pieces of `step` bytes, as a socket may deliver them; every request passed is
// answered at once, so what the guard holds back for pipelining goes on.
Fed feed(const std::string& bytes, std::size_t step = 1 << 20, GuardLimits limits = {1024, 100}) {
    RequestGuard guard(limits);
    Fed f;
    for (std::size_t at = 0; at < bytes.size() && !f.refusal; at += step) {
        f.refusal = guard.feed(std::string_view(bytes).substr(at, step), f.out);
        while (!f.refusal && guard.held() > 0)
            f.refusal = guard.answered(f.out);
    }
    return f;
}

} // namespace

TEST_SUITE("request_guard") {
    TEST_CASE("holds a pipelined request until the answers before it are out") {
        RequestGuard guard({1024, 100});
        std::string out;
        const std::string a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        const std::string b = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
        const std::string c = "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        CHECK_FALSE(guard.feed(a + b.substr(0, 10), out));
        CHECK(out == a);
        CHECK(guard.held() == 10);
        CHECK_FALSE(guard.in_head()); // a held head starts no clock
        CHECK_FALSE(guard.feed(b.substr(10) + c, out));
        CHECK(out == a);
        CHECK(guard.held() == b.size() + c.size());
        CHECK_FALSE(guard.answered(out)); // /a answered: /b goes on, /c waits for its answer
        CHECK(out == a + b);
        CHECK(guard.held() == c.size());
        CHECK_FALSE(guard.answered(out));
        CHECK(out == a + b + c);
        CHECK(guard.held() == 0);
        CHECK(guard.take_passed().size() == 3);
        // Answered before the next request begins: nothing is held.
        CHECK_FALSE(guard.answered(out));
        CHECK_FALSE(guard.feed(a, out));
        CHECK(guard.held() == 0);
        CHECK(out == a + b + c + a);
    }

    TEST_CASE("passes well-framed keep-alive requests, one byte at a time too") {
        std::string two = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                          "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n"
                          "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        for (std::size_t step : {std::size_t(1), std::size_t(7), std::size_t(1 << 20)}) {
            CAPTURE(step);
            auto f = feed(two, step);
            CHECK_FALSE(f.refusal);
            CHECK(f.out == two);
        }
    }

    TEST_CASE("header values keep their percent escapes through httplib's decoding") {
        auto f = feed("GET / HTTP/1.1\r\nx-sig:  a%2Fb%25 \r\n\r\n");
        CHECK_FALSE(f.refusal);
        CHECK(f.out == "GET / HTTP/1.1\r\nx-sig: a%252Fb%2525\r\n\r\n");
    }

    TEST_CASE("refuses what would smuggle or hang") {
        struct Case {
            std::string bytes;
            int status;
            std::string code;
        };
        std::vector<Case> cases = {
            {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", 400, "request.malformed"},
            {"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "request.malformed"},
            {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400, "request.malformed"},
            {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "request.malformed"},
            {"POST / HTTP/1.1\r\nx-a: one\r\n two\r\nContent-Length: 0\r\n\r\n", 400, "request.malformed"},
            {"POST / HTTP/1.1\r\nno colon\r\nContent-Length: 0\r\n\r\n", 400, "request.malformed"},
            {"POST / HTTP/1.1\r\nx-a : v\r\nContent-Length: 0\r\n\r\n", 400, "request.malformed"},
            {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "request.malformed"},
            {"POST / HTTP/1.1\r\nHost: a\r\n\r\n", 411, "request.length_required"},
            {"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413, "request.too_large"},
            {"GET / HTTP/1.1\r\nx-pad: " + std::string(2000, 'a') + "\r\n\r\n", 431, "request.header_too_large"},
            {"GET / HTTP/1.1\r\nx-pad: " + std::string(2000, 'a'), 431, "request.header_too_large"},
        };
        for (const auto& c : cases) {
            CAPTURE(c.bytes.substr(0, 80));
            auto f = feed(c.bytes, 3);
            REQUIRE(f.refusal);
            CHECK(f.refusal->status == c.status);
            CHECK(f.refusal->code == c.code);
            CHECK_FALSE(f.refusal->mid_body);
            CHECK(f.out.empty());
        }
    }

    TEST_CASE("a refused second request lets the first one through whole") {
        std::string first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        auto f = feed(first + "POST /b HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
        REQUIRE(f.refusal);
        CHECK(f.refusal->target == "/b");
        CHECK(f.out == first);
    }

    TEST_CASE("a broken chunk stops the stream where it breaks") {
        auto f = feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
        REQUIRE(f.refusal);
        CHECK(f.refusal->mid_body);
        CHECK(f.out == "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"); // not the broken line
    }

    TEST_CASE("in_head follows the head being read") {
        RequestGuard guard({1024, 100});
        std::string out;
        CHECK(guard.between_requests());
        CHECK_FALSE(guard.feed("GET / HT", out));
        CHECK(guard.in_head());
        CHECK_FALSE(guard.feed("TP/1.1\r\n\r\n", out));
        CHECK(guard.between_requests());
        CHECK_FALSE(guard.in_head());
    }
}

TEST_SUITE("request_guard") {
    TEST_CASE("the response counter sees whole answers, in any pieces") {
        std::string answers = "HTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" // HEAD: no body
                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                              "HTTP/1.1 204 No Content\r\n\r\n";
        for (std::size_t step : {std::size_t(1), std::size_t(5), answers.size()}) {
            CAPTURE(step);
            ResponseCounter counter;
            for (bool head : {false, true, false, false})
                counter.request_sent(head);
            counter.request_sent(false);
            CHECK(counter.owed() == 5);
            for (std::size_t at = 0; at < answers.size(); at += step)
                counter.feed(std::string_view(answers).substr(at, step));
            CHECK(counter.owed() == 1); // five requests, four final answers (the 100 is interim)
        }
    }

    TEST_CASE("the response counter waits for a body still on its way") {
        ResponseCounter counter;
        counter.request_sent(false);
        counter.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel");
        CHECK(counter.owed() == 1);
        counter.feed("lo");
        CHECK(counter.owed() == 0);
    }
}
