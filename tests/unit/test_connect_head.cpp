// SPDX-License-Identifier: Apache-2.0
// The target of a CONNECT: host and port, IPv6 only inside brackets.

#include <doctest/doctest.h>

#include "core/server/connect_head.hpp"

using vaultfwd::server::parse_authority;

TEST_CASE("a CONNECT authority gives its host and port") {
    auto a = parse_authority("api.example.com:443");
    REQUIRE(a);
    CHECK(a->first == "api.example.com");
    CHECK(a->second == 443);
    auto v6 = parse_authority("[::1]:8443");
    REQUIRE(v6);
    CHECK(v6->first == "::1");
    CHECK(v6->second == 8443);
}

TEST_CASE("a CONNECT authority with anything but an IPv6 address in brackets is refused") {
    // Found by fuzz_connect_head: the host came back as "::…\r]" with a bracket inside.
    CHECK_FALSE(parse_authority(std::string("[::\0\0\0\0" "0\r]]:1", 13)));
    CHECK_FALSE(parse_authority("[::1]]:443"));
    CHECK_FALSE(parse_authority("[example.com]:443"));
    CHECK_FALSE(parse_authority("[::1:443"));
    CHECK_FALSE(parse_authority("exa]mple.com:443"));
    CHECK_FALSE(parse_authority("::1:443"));
    CHECK_FALSE(parse_authority("example.com:0"));
    CHECK_FALSE(parse_authority("example.com:65536"));
}
