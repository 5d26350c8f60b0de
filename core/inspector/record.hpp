// SPDX-License-Identifier: Apache-2.0
#pragma once
// One exchange as the inspector keeps and shows it: masked when made (make_record), so nothing
// kept, shown or exported carries a vault value. Pure: strings and plain structs in and out.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http/message.hpp"
#include "core/inspector/capture.hpp"

namespace vaultfwd::inspector {

// A message as shown: masked, its body cut to the display limit with a note.
struct Shown {
    bool present = false;
    std::string start;
    http::Headers headers;
    std::string body;
    std::string note;             // why the body is cut or withheld; empty when shown whole
    std::uint64_t body_bytes = 0; // the body's size as it went
};

// Where a re-send of the exchange goes (never shown).
struct ResendInfo {
    std::string method;
    std::string target;       // masked, as the client sent it (query values too)
    std::string shown_target; // as shown (query values as "*"): for the HAR export
    http::Headers headers;         // masked, credentials as the client sent them
    std::string body;              // masked
    bool body_kept = false;        // the client's body was kept whole (or it had none)
    std::string tunnel_host;       // inside a CONNECT tunnel
    int tunnel_port = 0;
    bool tunnel_tls = false;
    std::string tunnel_principal;
};

struct Record {
    std::uint64_t id = 0;
    std::int64_t time_ms = 0; // Unix time of the answer, milliseconds
    std::string listener;     // api | proxy | inbound
    std::string dialect, method, host, path, route, error_code, principal, access_reason;
    int status = 0;          // the client's answer
    int upstream_status = 0; // 0 when there was no upstream answer
    std::string upstream_url; // masked
    std::string upstream_error;
    double duration_ms = 0;
    std::size_t tokens = 0, revealed = 0, redacted = 0;
    std::vector<std::string> masks; // the tokens and aliases standing for the values, distinct
    std::vector<std::string> filters; // the VGS route filters that ran, described
    bool withheld = false;          // some body could not be masked safely and is not shown
    Shown client_request, upstream_request, upstream_response, client_response;
    ResendInfo resend;
};

// What make_record needs besides the capture (from the access entry and the exchange).
struct Facts {
    std::string listener, dialect, method, path, upstream_host, route, error_code, principal, access_reason;
    int status = 0;
    double duration_ms = 0;
    std::size_t tokens = 0, revealed = 0, redacted = 0;
    std::int64_t time_ms = 0;
    std::string tunnel_host;
    int tunnel_port = 0;
    bool tunnel_tls = false;
    std::string tunnel_principal;
};

// Masks `capture` with its secrets and keeps at most `max_body_bytes` of each body (cut after
// masking, with a note). A body that cannot be scanned (compressed, not UTF-8, broken off, over
// the capture limit) is withheld with a note. Credentials (Authorization, Proxy-Authorization,
// Cookie values) are shown as "[hidden]" but kept for a re-send.
Record make_record(Capture& capture, const Facts& facts, std::size_t max_body_bytes);

// The row of the live table.
nlohmann::json row_json(const Record& record);
// The row with the four messages and the fields a route can be made from.
nlohmann::json detail_json(const Record& record);
// HAR 1.2 of the records (requests as the clients sent them, answers as they got them), masked;
// `vaultfwd replay` reads it.
nlohmann::json har(const std::vector<const Record*>& records, const std::string& origin_api);

// The fields of a message a route filter can select: JSON leaf paths ("$.card.number"), form
// fields, header names.
struct Fields {
    std::vector<std::string> json_paths, form_fields, headers;
};
Fields fields_of(const Shown& message);

} // namespace vaultfwd::inspector
