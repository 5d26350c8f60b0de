// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vgs/proxy.hpp"

#include <algorithm>

#include "core/dialect/services.hpp"
#include "core/dialect/vgs/exchange.hpp"
#include "core/server/auth.hpp"
#include "core/server/connect_head.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::dialect::vgs {

namespace {

// What on_head decided for a request, for on_request.
struct Target {
    upstream::Url url;
    const profile::ProxyCredential* credential = nullptr;
};

http::Response proxy_auth_required(bool had_credentials) {
    auto res = json_error(407, "auth.bad_proxy_credentials",
                          had_credentials ? "the proxy credentials are wrong: use a username and password from "
                                            "the profile's [[proxy_credentials]] (see 'vaultfwd config show')"
                                          : "the proxy needs credentials: use http://USERNAME:PASSWORD@host:port as "
                                            "the proxy (see 'vaultfwd config show')");
    res.headers.push_back({"Proxy-Authenticate", "Basic realm=\"vaultfwd\""});
    return res;
}

const profile::ProxyCredential* credential_by_id(const profile::Profile& p, const std::string& id) {
    for (const auto& c : p.proxy_credentials)
        if (c.id == id)
            return &c;
    return nullptr;
}

} // namespace

ProxyPhases::ProxyPhases(const profile::Profile& profile, vault::Store& store, server::AccessLog& log)
    : m_profile(profile), m_store(store), m_log(log), m_routes(RouteTable::compile(profile.routes)) {
    for (const auto& cred : profile.proxy_credentials) {
        std::string name = cred.client_cert;
        if (name.empty())
            for (const auto& cert : profile.certs)
                if (cert.direction == "outbound" && cert.credential == cred.id) {
                    name = cert.name;
                    break;
                }
        if (!name.empty())
            m_identities.emplace(cred.id, client_identity(profile, name));
    }
}

Result<void> ProxyPhases::ready() const {
    if (!m_routes)
        return m_routes.error();
    return {};
}

std::optional<http::Response> ProxyPhases::on_connect(server::Exchange& ex) {
    ex.entry.dialect = "vgs";
    ex.entry.upstream_host = ex.head.target.substr(0, 300);
    auto authority = server::parse_authority(ex.head.target);
    if (!authority)
        return json_error(400, "proxy.bad_connect_target",
                          "CONNECT needs host:port (got \"" + ex.head.target.substr(0, 200) + "\")");
    const auto& [host, port] = *authority;
    auto auth = http::find(ex.request.headers, "proxy-authorization");
    const profile::ProxyCredential* cred = server::authenticate_proxy(m_profile.proxy_credentials, auth.value_or(""));
    if (!cred)
        return proxy_auth_required(auth.has_value());
    ex.entry.principal = cred->id;
    upstream::Url url;
    url.scheme = "https";
    url.host = host;
    url.port = port;
    url.ipv6 = host.find(':') != std::string::npos;
    auto allowed = upstream::check_allowed(url, allowlist(m_profile));
    if (!allowed) {
        url.scheme = "http"; // a tunnel may also carry plain HTTP to an allow_http host
        if (upstream::check_allowed(url, allowlist(m_profile)).ok())
            allowed = {};
    }
    if (!allowed)
        return json_error(403, allowed.error().code, allowed.error().message);
    if (is_loopback(host) && port == m_own_port)
        return json_error(403, "proxy.loop", "CONNECT to the proxy itself is refused");
    ex.tunnel = server::Tunnel{host, port, false, cred->id};
    return std::nullopt;
}

std::optional<http::Response> ProxyPhases::on_head(server::Exchange& ex) {
    ex.entry.dialect = "vgs";
    const auto& req = ex.request;
    const std::string& target = ex.head.target;
    const bool origin_form = !target.empty() && target.front() == '/';
    Target t;
    if (ex.tunnel) {
        t.credential = credential_by_id(m_profile, ex.tunnel->principal);
        t.url.scheme = ex.tunnel->tls ? "https" : "http";
        t.url.host = ex.tunnel->host;
        t.url.port = ex.tunnel->port;
        t.url.ipv6 = ex.tunnel->host.find(':') != std::string::npos;
        if (origin_form) {
            t.url.path_and_query = target;
        } else {
            // Absolute-form inside a tunnel: the host dialed stays the CONNECT target.
            auto parsed = upstream::parse_url(target);
            if (!parsed)
                return json_error(400, "proxy.bad_url", parsed.error().message);
            t.url.path_and_query = parsed->path_and_query;
        }
    } else {
        if (origin_form) {
            if (req.path == "/ca.pem") {
                ex.entry.dialect = "ca";
                if (req.method != "GET" && req.method != "HEAD")
                    return json_error(405, "request.method_not_allowed", "use GET /ca.pem");
                http::Response res;
                res.headers.push_back({"Content-Type", "application/x-pem-file"});
                res.body = m_ca_pem;
                return res;
            }
            return json_error(404, "proxy.not_found",
                              "this is the forward proxy: send absolute-form requests (http://host/path) "
                              "or CONNECT through it, e.g. curl -x http://USER:PASS@host:port; GET /ca.pem "
                              "serves the CA to trust with --cacert");
        }
        auto auth = http::find(req.headers, "proxy-authorization");
        t.credential = server::authenticate_proxy(m_profile.proxy_credentials, auth.value_or(""));
        if (!t.credential)
            return proxy_auth_required(auth.has_value());
        auto parsed = upstream::parse_url(target);
        if (!parsed)
            return json_error(400, "proxy.bad_url", parsed.error().message);
        t.url = *parsed;
    }
    if (!relayed_method(req.method))
        return json_error(405, "request.method_not_allowed",
                          "the forward proxy does not relay " + req.method.substr(0, 20) +
                              " requests (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)");
    if (!t.credential)
        return json_error(407, "auth.bad_proxy_credentials", "the proxy credential is gone");
    ex.entry.principal = t.credential->id;
    ex.entry.upstream_host = host_port(t.url);
    if (auto allowed = upstream::check_allowed(t.url, allowlist(m_profile)); !allowed)
        return json_error(403, allowed.error().code, allowed.error().message);
    // No request route reads the body: it goes on to the upstream while it arrives, of any size.
    RequestInfo info{t.url.host, req.method, t.url.path_and_query.substr(0, t.url.path_and_query.find('?')),
                     http::find(req.headers, "content-type").value_or("")};
    auto request_match = m_routes->match(info, Phase::request);
    ex.stream_request_body = !request_match.route;
    ex.request_on_loop = reads_only(request_match.filters);
    ex.state = t;
    return std::nullopt;
}

server::Step ProxyPhases::on_request(server::Exchange& ex) {
    try {
        return forward(ex);
    } catch (const std::exception&) {
        return json_error(500, "server.internal", "something went wrong");
    }
}

server::Step ProxyPhases::forward(server::Exchange& ex) {
    const Target& t = std::any_cast<const Target&>(ex.state);
    const upstream::Url& url = t.url;
    http::Request& r = ex.request;
    // The credentials and the proxy's own connection handling are meant for this hop only.
    for (const char* hop : {"proxy-authorization", "proxy-connection"})
        http::remove(r.headers, hop);
    auto q = url.path_and_query.find('?');
    r.path = url.path_and_query.substr(0, q);
    ex.entry.path = r.path;
    RequestInfo info{url.host, r.method, r.path, http::find(r.headers, "content-type").value_or("")};

    auto request_match = m_routes->match(info, Phase::request);
    if (request_match.route) {
        // A compressed body is decoded for the filters; without a route it passes as sent.
        if (auto refused = decode_for_filters(r, request_match.route->id, m_profile.limits.max_body_bytes))
            return std::move(*refused);
        if (auto failed = run_filters(request_match.filters, Phase::request, r.headers, r.body, m_store, ex.entry))
            return std::move(*failed);
        ex.entry.route = request_match.route->id;
    }

    auto response_match = m_routes->match(info, Phase::response);
    // Response filters read the body as text: ask the upstream for an unencoded one.
    if (response_match.route)
        http::remove(r.headers, "accept-encoding");

    upstream::Call call = base_call(m_profile);
    call.method = r.method;
    call.url = url;
    call.headers = std::move(r.headers);
    call.body = std::move(r.body);
    call.body_source = ex.request_body;
    // Nothing reads the answer: it is relayed while it arrives, with bounded memory. A response
    // route's filters need it whole, up to limits.max_body_bytes.
    call.stream_answer = !response_match.route;
    call.max_answer_bytes = m_profile.limits.max_body_bytes;
    if (auto it = m_identities.find(t.credential->id); it != m_identities.end()) {
        if (!it->second)
            return json_error(500, "proxy.client_cert_unreadable",
                              "the mTLS certificate of proxy credential \"" + t.credential->id +
                                  "\" cannot be read: " + it->second.error().message);
        call.tls.client_cert_pem = it->second->first;
        call.tls.client_key_pem = it->second->second;
    }
    // The response phase: the answer as it came, through the response route's filters if one
    // matched (again now that the status is known: filters with a status condition decide now).
    auto respond = [this, info, routed = response_match.route != nullptr,
                    &ex](upstream::Outcome outcome) mutable -> http::Response {
        if (!outcome.ok())
            return upstream_failure(outcome);
        http::Response res = std::move(outcome.response);
        info.status = res.status;
        auto match = m_routes->match(info, Phase::response);
        if (routed && match.route) {
            if (auto failed = run_filters(match.filters, Phase::response, res.headers, res.body, m_store, ex.entry))
                return std::move(*failed);
            ex.entry.route = match.route->id;
        }
        return res;
    };
    return server::UpstreamStep{std::move(call), std::move(respond)};
}

http::Response ProxyPhases::on_refusal(const http::ParseError& error, server::Exchange& ex) {
    ex.entry.dialect = "vgs";
    return json_error(error.status, error.code, error.message);
}

void ProxyPhases::log(const server::Exchange& ex) { log_exchange(m_log, ex); }

} // namespace vaultfwd::dialect::vgs
