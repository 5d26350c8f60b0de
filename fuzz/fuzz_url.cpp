// SPDX-License-Identifier: Apache-2.0
// Destination URLs (upstream::parse_url, check_allowed) and header-value checks: what parses
// has no userinfo or control characters, prints back to a URL that parses to the same
// destination, and is allowed only by a pattern that matches the host that will be dialed.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/http/message.hpp"
#include "core/upstream/url.hpp"
#include "core/util/strings.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    (void)http::is_safe_value(input);
    (void)http::is_token(input);
    if (http::is_safe_value(input))
        FUZZ_EXPECT(input.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);

    auto url = upstream::parse_url(input);
    if (!url) {
        FUZZ_EXPECT(url.error().code == "upstream.bad_url");
        return 0;
    }
    FUZZ_EXPECT(url->scheme == "http" || url->scheme == "https");
    FUZZ_EXPECT(!url->host.empty());
    FUZZ_EXPECT(url->host == util::to_lower(url->host));
    FUZZ_EXPECT(url->host.find_first_of("@/\\?#[] \r\n\t") == std::string::npos);
    FUZZ_EXPECT(url->port >= 1 && url->port <= 65535);
    FUZZ_EXPECT(!url->path_and_query.empty() && url->path_and_query[0] == '/');
    FUZZ_EXPECT(http::is_safe_value(url->path_and_query));
    FUZZ_EXPECT(url->path_and_query.find('#') == std::string::npos);

    std::string printed = url->to_string();
    auto again = upstream::parse_url(printed);
    FUZZ_EXPECT(again.ok());
    FUZZ_EXPECT(again->scheme == url->scheme && again->host == url->host &&
                again->port == url->port && again->path_and_query == url->path_and_query &&
                again->ipv6 == url->ipv6);

    upstream::Allowlist allow;
    allow.https = {"localhost", "127.0.0.1", "::1", "*.example.com"};
    allow.http = {"localhost", "127.0.0.1"};
    auto allowed = upstream::check_allowed(*url, allow);
    if (allowed) {
        bool matched = false;
        for (const auto& p : allow.https)
            matched = matched || upstream::host_matches(url->host, p);
        for (const auto& p : allow.http)
            matched = matched || upstream::host_matches(url->host, p);
        FUZZ_EXPECT(matched);
        // An allowed host is one of the patterns spelled exactly, or a subdomain of example.com.
        FUZZ_EXPECT(url->host == "localhost" || url->host == "127.0.0.1" || url->host == "::1" ||
                    (url->host.size() > 12 && url->host.substr(url->host.size() - 12) == ".example.com"));
    } else {
        FUZZ_EXPECT(allowed.error().code == "upstream.host_not_allowed" ||
                    allowed.error().code == "upstream.http_not_allowed");
    }
    return 0;
}
