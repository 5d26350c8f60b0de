// SPDX-License-Identifier: Apache-2.0
#pragma once
// The contracts both HTTP parser targets check on one input (fuzz_http_request,
// fuzz_http_response): fed in one piece, byte by byte and in 7-byte pieces the parser gives the
// same messages and the same refusal; every call keeps its own contract (tests/support/
// http_transcript.hpp: consumed within the input, body pieces are views inside it, body bytes
// total = Content-Length, nothing read past it under ASan); a refusal has a known status and
// code; a parsed head has token names and no CR, LF or NUL in a value, and the writer's copy of it
// parses back to the same head.

#include <string>

#include "core/http/parser.hpp"
#include "fuzz/fuzz.hpp"
#include "tests/support/http_transcript.hpp"

namespace vaultfwd::fuzz {

inline void check_http(http::Parser::Kind kind, std::string_view input, http::ParseLimits limits,
                       std::string_view method) {
    using http::testing::parse_all;
    auto whole = parse_all(kind, input, 0, limits, method);
    auto bytes = parse_all(kind, input, 1, limits, method);
    auto sevens = parse_all(kind, input, 7, limits, method);
    FUZZ_EXPECT(whole.contract.empty());
    FUZZ_EXPECT(bytes.contract.empty());
    FUZZ_EXPECT(sevens.contract.empty());
    FUZZ_EXPECT(http::testing::same(whole, bytes));
    FUZZ_EXPECT(http::testing::same(whole, sevens));
    const bool request = kind == http::Parser::Kind::request;
    if (whole.failed) {
        const auto& e = whole.error;
        FUZZ_EXPECT(request ? (e.status == 400 || e.status == 411 || e.status == 413 || e.status == 431) : e.status == 502);
        FUZZ_EXPECT(e.code.rfind(request ? "request." : "response.", 0) == 0);
        FUZZ_EXPECT(!e.message.empty());
    }
    for (const auto& m : whole.messages) {
        const http::Head& h = m.head;
        FUZZ_EXPECT(h.head_bytes <= limits.max_head_bytes);
        FUZZ_EXPECT(m.body.size() <= limits.max_body_bytes);
        if (request) {
            FUZZ_EXPECT(http::is_token(h.method));
            FUZZ_EXPECT(!h.target.empty() && h.target.find_first_of(std::string_view(" \r\n\0", 4)) == std::string::npos);
        } else {
            FUZZ_EXPECT(h.status >= 100 && h.status <= 999);
        }
        for (const auto* list : {&h.headers, &m.trailers})
            for (const auto& f : *list) {
                FUZZ_EXPECT(http::is_token(f.name));
                FUZZ_EXPECT(http::is_safe_value(f.value));
            }
        // The writer's copy of the head parses back to the same head.
        std::string out;
        if (request)
            http::write_request_head(out, h);
        else
            http::write_response_head(out, h);
        http::ParseLimits wider = limits; // "name:value" comes back as "name: value"
        wider.max_head_bytes *= 2;
        wider.max_header_line *= 2;
        http::Parser again(kind, wider);
        if (!request)
            again.expect_response_to(method);
        std::size_t used = 0;
        FUZZ_EXPECT(again.next(out, used) == http::Parser::Event::head);
        FUZZ_EXPECT(used == out.size());
        auto round = again.head();
        round.head_bytes = h.head_bytes;
        if (h.reason.empty())
            round.reason.clear(); // the writer fills in the standard phrase
        FUZZ_EXPECT(http::testing::same_head(round, h));
    }
}

// Small limits, so inputs a fuzzer finds reach them.
inline http::ParseLimits fuzz_limits() {
    http::ParseLimits limits;
    limits.max_head_bytes = 2048;
    limits.max_header_line = 512;
    limits.max_body_bytes = 4096;
    return limits;
}

} // namespace vaultfwd::fuzz
