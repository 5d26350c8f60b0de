// SPDX-License-Identifier: Apache-2.0
#pragma once
// The answer of the ditto echo server (Footprint's ditto.footprint.dev), as pure functions of the
// request: no sockets here, so the format is tested byte for byte without a server.
//
// Text answer (the default), as the seed's examples show it:
//     x-ditto-client-cert-serial: 12431179266346922388   (only with a client certificate)
//     test-header: FootprintRocks
//     content-type: application/x-www-form-urlencoded
//     <empty line>
//     {"hello": "world" }                                  (the body byte for byte, nothing added)
// Header names are lower-cased, values kept byte for byte, in the order they arrived (curl sends
// Test-Header before Content-Type, which is the seed's order), repeated headers included.
// Connection-level headers (host, content-length, connection, …) are left out: they describe the
// hop, not the request.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vaultfwd::ditto {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ClientCert {
    std::string subject; // RFC 2253
    std::string issuer;
    std::string serial_decimal; // what x-ditto-client-cert-serial carries
    std::string serial_hex;
};

struct EchoRequest {
    std::string method;
    std::string target; // as on the request line: "/path?query" (or an absolute URL)
    HeaderList headers; // as received, any case, in arrival order
    std::string body;
    std::optional<ClientCert> client_cert;
};

enum class Format { text, json };

struct EchoResponse {
    int status = 200;
    std::string content_type;
    HeaderList headers; // extra response headers (x-ditto-client-cert-serial)
    std::string body;
};

inline constexpr std::string_view k_serial_header = "x-ditto-client-cert-serial";

// True for headers that belong to the connection rather than the request, which ditto leaves
// out: host, content-length, transfer-encoding, connection, keep-alive, te, trailer, upgrade,
// proxy-connection, expect. Case-insensitive.
bool is_connection_header(std::string_view name);

// The headers ditto echoes: lower-cased names, connection headers and any incoming
// x-ditto-client-cert-serial (only the server sets that one) dropped, the rest in arrival order.
// The serial header is not included (see echo_text).
HeaderList echoed_headers(const HeaderList& headers);

// The path and the query of a request target ("/a/b?x=1" → "/a/b", "x=1"); no decoding.
std::pair<std::string, std::string> split_target(std::string_view target);

// The text answer: the serial line (with a client certificate), the echoed headers as
// "name: value\n", an empty line, then the body exactly as received.
std::string echo_text(const EchoRequest& req);

// The JSON answer: {"method", "path", "query", "headers": {name: value} (repeated names joined
// with ", " in arrival order; JSON objects list names sorted), "body" (or "body_base64" with "body": null when the body is not UTF-8),
// "client_cert": {"subject", "issuer", "serial", "serial_hex"} or null}.
nlohmann::json echo_json(const EchoRequest& req);

// The whole answer in `format`: status 200, its content type, the serial header when a client
// certificate was presented, and the body.
EchoResponse echo(const EchoRequest& req, Format format);

} // namespace vaultfwd::ditto
