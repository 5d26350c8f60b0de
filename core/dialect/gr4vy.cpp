// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/gr4vy.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "core/template/render.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::dialect::gr4vy {

namespace {
using nlohmann::json;
constexpr int k_default_timeout_s = 30;
// True when `prefix` is `path`'s first whole segments ("/v1" for "/v1/pay", not "/v10").
bool path_has_prefix(std::string_view path, std::string_view prefix) {
    if (prefix.empty() || prefix == "/")
        return true;
    if (prefix.back() == '/')
        prefix.remove_suffix(1);
    if (path.substr(0, prefix.size()) != prefix)
        return false;
    return path.size() == prefix.size() || path[prefix.size()] == '/' || path[prefix.size()] == '?';
}

} // namespace

const profile::Gr4vyEndpoint* match_endpoint(const profile::Profile& p, const upstream::Url& url) {
    const profile::Gr4vyEndpoint* best = nullptr;
    std::string path = url.path_and_query.substr(0, url.path_and_query.find('?'));
    for (const auto& ep : p.gr4vy_endpoints) {
        std::string host = util::to_lower(ep.host);
        bool host_ok = host == url.host || host == url.host_for_url() ||
                       host == url.host_for_url() + ":" + std::to_string(url.port);
        if (!host_ok || !path_has_prefix(path, ep.path))
            continue;
        if (!best || ep.path.size() > best->path.size())
            best = &ep;
    }
    return best;
}

std::string endpoint_cert(const profile::Profile& p, const profile::Gr4vyEndpoint& ep) {
    if (!ep.client_cert.empty())
        return ep.client_cert;
    for (const auto& c : p.certs)
        if (c.direction == "outbound" && c.gr4vy_endpoint == ep.id)
            return c.name;
    return {};
}

http::Response error(int status, const std::string& gr4vy_code, const std::string& message,
                     const std::string& code, const std::string& header) {
    json body = {{"type", "error"}, {"code", gr4vy_code}, {"status", status}, {"message", message},
                 {"details", json::array()}, {"vaultfwd_code", code}};
    if (!header.empty())
        body["details"].push_back(
            {{"location", "header"}, {"pointer", header}, {"message", message}, {"type", "value_error"}});
    http::Response res;
    res.status = status;
    res.headers.push_back({"content-type", "application/json"});
    res.headers.push_back({k_error_header, code});
    res.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    return res;
}

server::Step handle(const http::Request& r, Services& s, server::AccessEntry& log) {
    log.dialect = "gr4vy";
    auto bad = [](const std::string& message, const std::string& code, const std::string& header) {
        return error(400, "bad_request", message, code, header);
    };
    if (r.method != "POST")
        return error(405, "method_not_allowed", "use POST /vault-forward", "request.method_not_allowed");
    if (r.body.size() > s.profile.limits.max_body_bytes)
        return error(413, "payload_too_large", "the request body is larger than " +
                     std::to_string(s.profile.limits.max_body_bytes) + " bytes", "request.too_large");
    auto url_text = http::find(r.headers, "x-vault-forward-url");
    if (!url_text)
        return bad("x-vault-forward-url is required", "gr4vy.missing_url", "x-vault-forward-url");
    auto url = upstream::parse_url(*url_text);
    if (!url)
        return bad(url.error().message, url.error().code, "x-vault-forward-url");
    if (auto allowed = upstream::check_allowed(*url, allowlist(s.profile)); !allowed)
        return bad(allowed.error().message, allowed.error().code, "x-vault-forward-url");

    auto method = http::find(r.headers, "x-vault-forward-http-method");
    if (!method)
        return bad("x-vault-forward-http-method is required (POST, PUT or PATCH)",
                   "gr4vy.missing_method", "x-vault-forward-http-method");
    std::string m = util::to_lower(*method);
    if (m != "post" && m != "put" && m != "patch")
        return bad("x-vault-forward-http-method must be POST, PUT or PATCH",
                   "gr4vy.bad_method", "x-vault-forward-http-method");

    auto pm_header = http::find(r.headers, "x-vault-forward-payment-methods");
    if (!pm_header || util::trim(*pm_header).empty())
        return bad("x-vault-forward-payment-methods needs at least one payment method id",
                   "gr4vy.missing_payment_methods", "x-vault-forward-payment-methods");
    std::vector<std::string> methods;
    std::set<std::string> seen;
    for (const auto& piece : util::split(*pm_header, ',')) {
        std::string id(util::trim(piece));
        if (id.empty())
            return bad("x-vault-forward-payment-methods has an empty id",
                       "gr4vy.bad_payment_methods", "x-vault-forward-payment-methods");
        if (!seen.insert(id).second)
            return bad("payment method " + id + " is listed twice",
                       "gr4vy.duplicate_payment_method", "x-vault-forward-payment-methods");
        if (!s.store.has_record(id) || !s.store.field(id, "card.number"))
            return bad("payment method " + id + " is not a card in the vault",
                       "gr4vy.unknown_payment_method", "x-vault-forward-payment-methods");
        methods.push_back(id);
    }

    int timeout_s = k_default_timeout_s;
    if (auto t = http::find(r.headers, "x-vault-forward-timeout")) {
        std::string tv(util::trim(*t));
        bool digits = !tv.empty() && tv.size() <= 4 &&
                      std::all_of(tv.begin(), tv.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
        if (!digits || std::stoi(tv) < 1 || std::stoi(tv) > 300)
            return bad("x-vault-forward-timeout must be a whole number of seconds from 1 to 300",
                       "gr4vy.bad_timeout", "x-vault-forward-timeout");
        timeout_s = std::stoi(tv);
    }

    upstream::Call call = base_call(s.profile);
    call.method = util::to_lower(m) == "post" ? "POST" : m == "put" ? "PUT" : "PATCH";
    call.url = *url;
    // Advanced authentication: the endpoint's client certificate, as Gr4vy's dashboard sets it.
    const auto* endpoint = match_endpoint(s.profile, *url);
    std::string cert_name = endpoint ? endpoint_cert(s.profile, *endpoint) : "";
    if (!cert_name.empty()) {
        auto identity = client_identity(s.profile, cert_name);
        if (!identity)
            return error(500, "internal_error",
                         "the client certificate of gr4vy endpoint \"" + endpoint->id + "\" cannot be read: " +
                             identity.error().message,
                         "gr4vy.endpoint_cert_unreadable");
        call.tls.client_cert_pem = std::move(identity->first);
        call.tls.client_key_pem = std::move(identity->second);
    }
    call.timeout_ms = timeout_s * 1000;
    const std::string prefix = "x-vault-forward-header-";
    for (const auto& h : r.headers) {
        if (!util::starts_with_icase(h.name, prefix))
            continue;
        std::string name = h.name.substr(prefix.size());
        if (!http::is_token(name) || !http::is_safe_value(h.value))
            return bad("header " + h.name + " has an invalid name or value", "gr4vy.bad_header", h.name);
        call.headers.push_back({name, h.value});
    }
    if (!http::find(call.headers, "content-type"))
        if (auto ct = http::find(r.headers, "content-type"))
            call.headers.push_back({"content-type", *ct});

    tmpl::RenderRequest req;
    req.dialect = tmpl::Dialect::gr4vy;
    req.body = r.body;
    req.payment_methods = methods;
    req.source = &s.store;
    req.secrets = log.secrets.get();
    auto rendered = tmpl::render(req);
    log.tokens = rendered.token_count;
    if (!rendered.ok) {
        std::string message;
        for (std::size_t i = 0; i < rendered.problems.size() && i < 20; ++i)
            message += (i ? "; " : "") + rendered.problems[i].to_error().describe();
        const auto* p = tmpl::primary_problem(rendered);
        return error(tmpl::http_status(rendered) == 500 ? 500 : 400,
                     tmpl::http_status(rendered) == 500 ? "internal_error" : "bad_request", message,
                     p ? p->code : "template.failed");
    }
    call.body = std::move(rendered.body);
    log.upstream_host = host_port(call.url);
    call.stream_answer = true; // the body passes as it is: relayed as it arrives

    // The response phase: Gr4vy always answers 200, the upstream's status and headers in
    // x-vault-forward-* headers, its body as it is.
    auto respond = [bad, cert_name, endpoint, where = host_port(call.url), &log](upstream::Outcome out) -> http::Response {
        http::Response res;
        res.status = 200;
        if (!out.ok()) {
            if (out.failure == upstream::FailureKind::bad_request)
                return bad(out.error_message, out.error_code, "");
            log.error_code = out.error_code;
            std::string message = out.error_message;
            if (out.failure == upstream::FailureKind::client_cert_rejected ||
                out.failure == upstream::FailureKind::tls_handshake)
                message += cert_name.empty()
                               ? " (no [[gr4vy_endpoints]] entry with a client certificate matches " +
                                     where + ")"
                               : " (presented certificate \"" + cert_name + "\" of gr4vy endpoint \"" +
                                     endpoint->id + "\")";
            res.headers.push_back({"x-vault-forward-error", message});
            res.headers.push_back({k_error_header, out.error_code});
            return res;
        }
        res.headers.push_back({"x-vault-forward-http-status-code", std::to_string(out.response.status)});
        for (const auto& h : out.response.headers) {
            if (util::iequals(h.name, "content-type"))
                res.headers.push_back({"content-type", h.value});
            else if (!http::is_hop_by_hop(h.name))
                res.headers.push_back({"x-vault-forward-header-" + util::to_lower(h.name), h.value});
        }
        res.body = std::move(out.response.body);
        res.stream = std::move(out.response.stream);
        return res;
    };
    return server::UpstreamStep{std::move(call), std::move(respond)};
}

} // namespace vaultfwd::dialect::gr4vy
