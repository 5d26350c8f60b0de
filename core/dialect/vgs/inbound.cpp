// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vgs/inbound.hpp"

#include <algorithm>

#include "core/dialect/services.hpp"
#include "core/dialect/vgs/exchange.hpp"
#include "core/server/connect_head.hpp"
#include "core/util/redact.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::dialect::vgs {

namespace {

constexpr const char* k_dialect = "vgs-inbound";

// What on_head decided for a request, for on_request.
struct Target {
    const CompiledRoute* route = nullptr;
    upstream::Url url;
    RequestInfo info;
    std::string forwarded_host; // the Host the caller asked for
};

std::string shown(const std::string& text) { return "\"" + util::redact(text.substr(0, 200)) + "\""; }

// The path is left out of the message: a caller may carry values in it.
http::Response no_route(const std::string& host, const std::string& method) {
    return json_error(404, "inbound.no_route",
                      "no inbound route answers for host " + shown(host) + " and method " + method.substr(0, 20) +
                          " on this path: add a [[routes]] entry with direction = \"inbound\", a host pattern that "
                          "matches it (and its path and methods) and its upstream; nothing was sent anywhere");
}

} // namespace

Result<std::string> inbound_host(const http::Headers& headers) {
    std::optional<std::string> host;
    for (const auto& h : headers) {
        if (!util::iequals(h.name, "host"))
            continue;
        if (host)
            return make_error("inbound.bad_host", "the request has more than one Host header: send one");
        host = h.value;
    }
    if (!host || host->empty())
        return make_error("inbound.no_host",
                          "the request has no Host header: the inbound port picks the route by Host "
                          "(curl sends it from the URL; with another client set Host: <route hostname>)");
    std::string authority = *host;
    // Without a port, parse it as if it had the default one: the host is all that matters here.
    const auto colon = authority.rfind(':');
    const bool has_port = colon != std::string::npos &&
                          (authority.front() != '[' || authority.find(']') < colon);
    auto parsed = server::parse_authority(has_port ? authority : authority + ":80");
    if (!parsed)
        return make_error("inbound.bad_host",
                          "the Host header " + shown(authority) +
                              " is not a host name or address (with an optional :port)");
    return parsed->first;
}

InboundPhases::InboundPhases(const profile::Profile& profile, vault::Store& store, server::AccessLog& log)
    : m_profile(profile), m_store(store), m_log(log),
      m_routes(RouteTable::compile(profile.routes, Direction::inbound)) {
    for (const auto& cert : profile.certs)
        if (cert.direction == "inbound" && !cert.route.empty() && !m_identities.count(cert.route))
            m_identities.emplace(cert.route, std::make_pair(cert.name, client_identity(profile, cert.name)));
}

Result<void> InboundPhases::ready() const {
    if (!m_routes)
        return m_routes.error();
    return {};
}

bool InboundPhases::serves_host(const std::string& host) const { return m_routes && m_routes->any_host_matches(host); }

std::optional<http::Response> InboundPhases::on_connect(server::Exchange& ex) {
    ex.entry.dialect = k_dialect;
    auto authority = server::parse_authority(ex.head.target);
    if (!authority)
        return json_error(400, "inbound.bad_connect_target",
                          "CONNECT needs host:port (got " + shown(ex.head.target) + ")");
    const auto& [host, port] = *authority;
    if (!serves_host(host))
        return json_error(404, "inbound.no_route",
                          "no inbound route answers for host " + shown(host) +
                              ": CONNECT through the inbound port only reaches the hostnames of its routes; "
                              "nothing was sent anywhere");
    ex.tunnel = server::Tunnel{host, port, false, ""};
    return std::nullopt;
}

std::optional<http::Response> InboundPhases::on_head(server::Exchange& ex) {
    ex.entry.dialect = k_dialect;
    const auto& req = ex.request;
    const std::string& target = ex.head.target;
    Target t;
    std::string path_and_query;
    if (!target.empty() && target.front() == '/') {
        path_and_query = target;
        if (ex.tunnel) {
            t.info.host = ex.tunnel->host;
        } else {
            auto host = inbound_host(req.headers);
            if (!host)
                return json_error(400, host.error().code, host.error().message);
            t.info.host = *host;
        }
    } else if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
        // Absolute form: the inbound port used as a plain HTTP proxy (curl -x http://…).
        auto parsed = upstream::parse_url(target);
        if (!parsed)
            return json_error(400, "inbound.bad_url", parsed.error().message);
        t.info.host = ex.tunnel ? ex.tunnel->host : parsed->host;
        path_and_query = parsed->path_and_query;
    } else {
        return json_error(400, "inbound.bad_target",
                          "the request target must be a path (/…) or an absolute http(s) URL (got " +
                              shown(target) + ")");
    }
    const auto q = path_and_query.find('?');
    t.info.method = req.method;
    t.info.path = path_and_query.substr(0, q);
    t.info.content_type = http::find(req.headers, "content-type").value_or("");
    ex.entry.path = t.info.path;
    t.forwarded_host = http::find(req.headers, "host").value_or(t.info.host);
    if (!relayed_method(req.method))
        return json_error(405, "request.method_not_allowed",
                          "the inbound port does not relay " + req.method.substr(0, 20) +
                              " requests (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)");
    t.route = m_routes->find(t.info);
    if (!t.route)
        return no_route(t.info.host, req.method);
    ex.entry.route = t.route->id;
    t.url = t.route->upstream;
    t.url.path_and_query = path_and_query;
    ex.entry.upstream_host = host_port(t.url);
    if (is_loopback(t.url.host) && t.url.port == m_own_port)
        return json_error(403, "inbound.loop",
                          "route \"" + t.route->id + "\" sends requests to the inbound port itself: give it "
                          "another upstream");
    if (auto allowed = upstream::check_allowed(t.url, allowlist(m_profile)); !allowed)
        return json_error(403, allowed.error().code, allowed.error().message);
    // No request filter reads the body: it goes on to the upstream while it arrives.
    auto request_filters = t.route->filters_for(t.info, Phase::request);
    ex.stream_request_body = request_filters.empty();
    ex.request_on_loop = reads_only(request_filters);
    ex.state = t;
    return std::nullopt;
}

server::Step InboundPhases::on_request(server::Exchange& ex) {
    try {
        return forward(ex);
    } catch (const std::exception&) {
        return json_error(500, "server.internal", "something went wrong");
    }
}

server::Step InboundPhases::forward(server::Exchange& ex) {
    Target& t = std::any_cast<Target&>(ex.state);
    const CompiledRoute& route = *t.route;
    http::Request& r = ex.request;
    // Meant for this hop only; the upstream learns where the request came from the usual way.
    for (const char* hop : {"proxy-authorization", "proxy-connection", "x-forwarded-host", "x-forwarded-proto"})
        http::remove(r.headers, hop);
    r.headers.push_back({"X-Forwarded-Host", t.forwarded_host});
    r.headers.push_back({"X-Forwarded-Proto", ex.listener_tls || (ex.tunnel && ex.tunnel->tls) ? "https" : "http"});
    if (!r.remote_addr.empty()) {
        std::string chain = http::find(r.headers, "x-forwarded-for").value_or("");
        http::remove(r.headers, "x-forwarded-for");
        r.headers.push_back({"X-Forwarded-For", chain.empty() ? r.remote_addr : chain + ", " + r.remote_addr});
    }

    auto request_filters = route.filters_for(t.info, Phase::request);
    if (!request_filters.empty()) {
        if (auto refused = decode_for_filters(r, route.id, m_profile.limits.max_body_bytes))
            return std::move(*refused);
        if (auto failed = run_filters(request_filters, Phase::request, r.headers, r.body, m_store, ex.entry))
            return std::move(*failed);
    }
    // Response filters read the body as text: ask the upstream for an unencoded one.
    const bool reads_answer = !route.filters_for(t.info, Phase::response).empty();
    if (reads_answer)
        http::remove(r.headers, "accept-encoding");

    upstream::Call call = base_call(m_profile);
    call.method = r.method;
    call.url = t.url;
    call.headers = std::move(r.headers);
    call.body = std::move(r.body);
    call.body_source = ex.request_body;
    // Nothing reads the answer: it is relayed while it arrives. Filters need it whole, bounded.
    call.stream_answer = !reads_answer;
    call.max_answer_bytes = m_profile.limits.max_body_bytes;
    const auto identity = m_identities.find(route.id);
    if (identity != m_identities.end()) {
        const auto& [cert_name, material] = identity->second;
        if (!material)
            return json_error(500, "inbound.client_cert_unreadable",
                              "inbound certificate \"" + cert_name + "\" of route \"" + route.id +
                                  "\" cannot be read: " + material.error().message);
        call.tls.client_cert_pem = material->first;
        call.tls.client_key_pem = material->second;
    }
    // The response phase: errors of the upstream leg named precisely, the route's response
    // filters on the answer (those with a status condition decide now that it is known).
    const bool has_identity = identity != m_identities.end();
    const std::string cert_name = has_identity ? identity->second.first : "";
    auto respond = [this, &ex, route_ptr = t.route, info = t.info, has_identity,
                    cert_name](upstream::Outcome outcome) mutable -> http::Response {
        const CompiledRoute& rt = *route_ptr;
        if (!outcome.ok()) {
            std::string hint;
            if (outcome.failure == upstream::FailureKind::client_cert_rejected ||
                (outcome.failure == upstream::FailureKind::tls_handshake && !has_identity)) {
                if (!has_identity)
                    hint = "; route \"" + rt.id + "\" has no inbound certificate: add the one this upstream "
                               "expects with 'vaultfwd cert add NAME --direction inbound --route " + rt.id +
                               " --cert FILE --key FILE'";
                else
                    hint = "; it refused inbound certificate \"" + cert_name + "\" of route \"" + rt.id +
                               "\" (see 'vaultfwd cert list')";
            }
            return upstream_failure(outcome, hint);
        }
        http::Response res = std::move(outcome.response);
        info.status = res.status;
        auto response_filters = rt.filters_for(info, Phase::response);
        if (!response_filters.empty() && !res.stream)
            if (auto failed = run_filters(response_filters, Phase::response, res.headers, res.body, m_store, ex.entry))
                return std::move(*failed);
        return res;
    };
    return server::UpstreamStep{std::move(call), std::move(respond)};
}

http::Response InboundPhases::on_refusal(const http::ParseError& error, server::Exchange& ex) {
    ex.entry.dialect = k_dialect;
    return json_error(error.status, error.code, error.message);
}

void InboundPhases::log(const server::Exchange& ex) { log_exchange(m_log, ex); }

} // namespace vaultfwd::dialect::vgs
