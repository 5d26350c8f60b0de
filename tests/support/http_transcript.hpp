// SPDX-License-Identifier: Apache-2.0
#pragma once
// Drives an http::Parser over a whole input fed in pieces, as a socket would deliver it, and
// records what came out (messages, body bytes, trailers, the refusal), checking the parser's
// contract on every call. Shared by the parser's unit and conformance tests and its fuzz
// targets (header-only: the fuzz build compiles no test support sources).

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/parser.hpp"

namespace vaultfwd::http::testing {

struct Message {
    Head head;
    std::string body;
    Headers trailers;
    std::size_t pieces = 0;
};

struct Transcript {
    std::vector<Message> messages;
    bool failed = false;
    ParseError error;
    bool partial = false;    // input (and finish) ended with a message begun but not whole
    std::string contract;    // the first broken contract, empty when none
};

inline bool same_headers(const Headers& a, const Headers& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const Header& x, const Header& y) { return x.name == y.name && x.value == y.value; });
}

inline bool same_head(const Head& a, const Head& b) {
    return a.method == b.method && a.target == b.target && a.status == b.status && a.reason == b.reason &&
           a.version_minor == b.version_minor && same_headers(a.headers, b.headers) && a.body == b.body &&
           a.content_length == b.content_length && a.keep_alive == b.keep_alive &&
           a.expect_continue == b.expect_continue && a.head_bytes == b.head_bytes;
}

// Equal outcomes; body pieces may differ in number.
inline bool same(const Transcript& a, const Transcript& b) {
    if (a.failed != b.failed || a.partial != b.partial || a.messages.size() != b.messages.size())
        return false;
    if (a.failed && (a.error.status != b.error.status || a.error.code != b.error.code ||
                     a.error.message != b.error.message || a.error.header != b.error.header ||
                     a.error.target != b.error.target))
        return false;
    for (std::size_t i = 0; i < a.messages.size(); ++i)
        if (!same_head(a.messages[i].head, b.messages[i].head) || a.messages[i].body != b.messages[i].body ||
            !same_headers(a.messages[i].trailers, b.messages[i].trailers))
            return false;
    return true;
}

// `step`: how many bytes arrive per read (0: all at once). `method`: responses answer it.
// `finish`: the peer closes after the last byte.
inline Transcript parse_all(Parser::Kind kind, std::string_view input, std::size_t step = 0,
                            ParseLimits limits = {}, std::string_view method = "GET", bool finish = true) {
    Transcript t;
    Parser p(kind, limits);
    if (kind == Parser::Kind::response)
        p.expect_response_to(method);
    if (step == 0)
        step = std::max<std::size_t>(input.size(), 1);
    auto broken = [&](const std::string& what) {
        if (t.contract.empty())
            t.contract = what;
    };
    Message current;
    bool in_message = false;
    std::uint64_t body_bytes = 0;
    std::string pending;
    auto handle = [&](Parser::Event e) -> bool { // false: stop
        switch (e) {
        case Parser::Event::need_more:
            return false;
        case Parser::Event::head:
            if (in_message)
                broken("a second head before message_end");
            in_message = true;
            current = Message{};
            current.head = p.head();
            body_bytes = 0;
            return true;
        case Parser::Event::body:
            if (!in_message)
                broken("body outside a message");
            if (p.body_piece().empty())
                broken("an empty body piece");
            current.body.append(p.body_piece());
            body_bytes += p.body_piece().size();
            ++current.pieces;
            return true;
        case Parser::Event::message_end:
            if (!in_message)
                broken("message_end outside a message");
            if (current.head.body == BodyKind::length && body_bytes != current.head.content_length)
                broken("body bytes differ from Content-Length");
            if (current.head.body == BodyKind::none && body_bytes != 0)
                broken("body bytes for a message without a body");
            current.trailers = p.trailers();
            if (!p.idle())
                broken("not idle after message_end");
            t.messages.push_back(std::move(current));
            in_message = false;
            if (kind == Parser::Kind::response && !(t.messages.back().head.status >= 100 &&
                                                    t.messages.back().head.status < 200))
                p.expect_response_to(method);
            return true;
        case Parser::Event::error:
            t.failed = true;
            t.error = p.error();
            return false;
        }
        return false;
    };
    for (std::size_t at = 0; at < input.size() && !t.failed; at += step) {
        pending.append(input.substr(at, step));
        while (!t.failed) {
            std::size_t consumed = 0;
            // The parser sees an exact-size copy, so a read past it is caught under ASan.
            std::string copy = pending;
            auto e = p.next(copy, consumed);
            if (consumed > copy.size()) {
                broken("consumed more than given");
                consumed = copy.size();
            }
            if (e == Parser::Event::need_more && consumed != copy.size())
                broken("need_more without consuming everything");
            if (e == Parser::Event::body &&
                (p.body_piece().data() < copy.data() || p.body_piece().data() + p.body_piece().size() > copy.data() + copy.size()))
                broken("a body piece outside the input");
            bool go_on = handle(e);
            pending.erase(0, consumed);
            if (!go_on)
                break;
        }
    }
    if (!t.failed && finish) {
        while (true) {
            auto e = p.finish();
            if (e == Parser::Event::message_end && !in_message)
                broken("finish ended a message that had not begun");
            if (!handle(e))
                break;
        }
    }
    if (!t.failed)
        t.partial = in_message || !p.idle();
    return t;
}

} // namespace vaultfwd::http::testing
