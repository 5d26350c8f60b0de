// SPDX-License-Identifier: Apache-2.0
// Minimal reproducers of what the fuzz targets in fuzz/ found (scripts/fuzz), one TEST_CASE per
// finding, named after the target that found it.
#include <doctest/doctest.h>

#include <string>

#include "core/template/footprint.hpp"
#include "core/upstream/url.hpp"

using namespace vaultfwd;
using namespace std::string_literals;

TEST_SUITE("regressions") {
    TEST_CASE("fuzz url: a host made only of dots is an empty host") {
        // "." lost its trailing dot and became "", which parse_url promises to refuse.
        for (const char* text : {"https://./", "https://.:51615/", "http://.?x"}) {
            auto url = upstream::parse_url(text);
            CHECK_MESSAGE(!url.ok(), text);
            if (!url.ok())
                CHECK(url.error().code == "upstream.bad_url");
            else
                CHECK_FALSE(url->host.empty());
        }
    }

    TEST_CASE("fuzz url: a host with an empty label does not print back to another host") {
        // "a.." lost one trailing dot and kept the other: to_string() gave "https://a.:51615/",
        // which parses to host "a". Empty labels ("a..", "..b", "a..b") are not DNS names.
        for (const char* text : {"https://a..:51615/", "https://localhost../", "https://a..b/", "https://.a/"}) {
            auto url = upstream::parse_url(text);
            if (!url.ok()) {
                CHECK(url.error().code == "upstream.bad_url");
                continue;
            }
            auto again = upstream::parse_url(url->to_string());
            REQUIRE_MESSAGE(again.ok(), text);
            CHECK_MESSAGE(again->host == url->host, text);
            CHECK_MESSAGE(url->host.find("..") == std::string::npos, text);
            CHECK_MESSAGE(url->host.front() != '.', text);
            CHECK_MESSAGE(url->host.back() != '.', text);
        }
    }

    TEST_CASE("fuzz footprint: a truncated UTF-8 sequence in an ingress rule header does not throw") {
        // 0xC9 alone decoded as U+0009 (white space) of length 2, so trimming ran past the end
        // and string_view::substr threw std::out_of_range; the header reaches the splitter
        // before any UTF-8 check, so the API answered 500.
        for (const std::string& value : {"\xc9"s, "\xa9 "s, "a = $.b, \xc9"s, "\xe0\x80"s}) {
            std::vector<std::string> pieces;
            CHECK_NOTHROW(pieces = tmpl::split_ingress_rule_header(value));
            for (const auto& piece : pieces) {
                Result<tmpl::IngressRule> rule = make_error("unset", "");
                CHECK_NOTHROW(rule = tmpl::parse_ingress_rule(piece));
                CHECK_FALSE(rule.ok());
            }
            Result<tmpl::IngressRule> direct = make_error("unset", "");
            CHECK_NOTHROW(direct = tmpl::parse_ingress_rule(value));
            CHECK_FALSE(direct.ok());
        }
    }
}
