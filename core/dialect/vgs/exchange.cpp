// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vgs/exchange.hpp"

#include "core/dialect/services.hpp"
#include "core/dialect/vgs/filters.hpp"
#include "core/util/inflate.hpp"

namespace vaultfwd::dialect::vgs {

bool relayed_method(const std::string& method) {
    for (const char* known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
        if (method == known)
            return true;
    return false;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

std::optional<http::Response> decode_for_filters(http::Request& r, const std::string& route_id,
                                                 std::size_t max_body_bytes) {
    auto coding = http::find(r.headers, "content-encoding");
    if (!coding || r.body.empty())
        return std::nullopt;
    if (!util::can_inflate(*coding))
        return json_error(415, "vgs.body_encoding",
                          "the request body is " + coding->substr(0, 40) + "-encoded and route \"" + route_id +
                              "\" must read it: send it as gzip, deflate or unencoded; nothing was sent upstream");
    auto plain = util::inflate(r.body, *coding, max_body_bytes);
    if (!plain)
        return json_error(plain.error().code == "body.too_large" ? 413 : 400, plain.error().code,
                          plain.error().message + "; nothing was sent upstream");
    r.body = std::move(*plain);
    http::remove(r.headers, "content-encoding");
    return std::nullopt;
}

std::optional<http::Response> run_filters(const std::vector<const CompiledFilter*>& filters, Phase phase,
                                          http::Headers& headers, std::string& body, vault::Store& store,
                                          server::AccessEntry& entry) {
    vault::Store::ReadScope one_state(store); // the filters' reads: one look at the file
    auto applied = apply_filters(filters, phase, headers, body, store, entry.secrets.get());
    if (!applied) {
        const Error& e = applied.error();
        const bool vault = e.code.rfind("vault.", 0) == 0;
        if (phase == Phase::request)
            return json_error(vault ? 500 : 400, e.code, e.message + (vault ? "" : "; nothing was sent upstream"));
        return json_error(vault ? 500 : 502, e.code, "the upstream's answer could not be filtered: " + e.message);
    }
    entry.tokens += applied->tokens();
    entry.redacted += applied->redacted;
    entry.revealed += applied->revealed;
    return std::nullopt;
}

bool reads_only(const std::vector<const CompiledFilter*>& filters) {
    for (const CompiledFilter* f : filters)
        if (f->operation == Operation::redact)
            return false;
    return true;
}

http::Response upstream_failure(const upstream::Outcome& outcome, const std::string& hint) {
    const int status = outcome.failure == upstream::FailureKind::timeout ? 504 : 502;
    return json_error(status, outcome.error_code, outcome.error_message + hint);
}

void log_exchange(server::AccessLog& log, const server::Exchange& ex) {
    if (ex.head.method == "CONNECT" && ex.response.status == 200)
        return;
    log.write(ex.entry);
}

} // namespace vaultfwd::dialect::vgs
