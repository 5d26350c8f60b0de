// SPDX-License-Identifier: Apache-2.0
#include "core/replay/plan.hpp"

#include "core/dialect/footprint.hpp"
#include "core/dialect/services.hpp"
#include "core/dialect/vtex.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::replay {

namespace {

const char* k_target_header = "x-fp-proxy-target-url";
const char* k_pin_header = "x-fp-proxy-pin-cert";

bool has_prefix_header(const http::Headers& headers, std::string_view prefix) {
    for (const auto& h : headers)
        if (util::starts_with_icase(h.name, prefix))
            return true;
    return false;
}

// Headers that never go to the API server as recorded: the recording's credentials belong to
// another server, hop-by-hop ones describe another connection, and a compressed answer would
// only be harder to compare.
bool is_first_hop_only(std::string_view name) {
    return util::iequals(name, "authorization") || util::iequals(name, "accept-encoding") ||
           http::is_hop_by_hop(name);
}

// Footprint control headers that must not follow the request to an echo server.
bool is_dropped_footprint_control(std::string_view name) {
    return util::iequals(name, k_target_header) || util::iequals(name, k_pin_header) ||
           util::starts_with_icase(name, "x-fp-proxy-ingress-") ||
           util::iequals(name, "x-fp-path-and-query");
}

http::Request post(const std::string& path, const Recording& rec) {
    http::Request req;
    req.method = "POST";
    req.path = path;
    req.body = rec.body;
    return req;
}

void add_pin(http::Request& req, const Target& target) {
    if (!target.pin_pem.empty())
        req.headers.push_back({k_pin_header, util::percent_encode(target.pin_pem)});
}

Result<http::Request> reflect(const Recording& rec, Kind kind) {
    if (kind == Kind::gr4vy || kind == Kind::vtex)
        return make_error("replay.reflect_unsupported",
                          std::string("this is a ") + std::string(kind_name(kind)) +
                              " request: reflect renders Footprint templates only; replay it "
                              "--via ditto");
    auto req = post("/vault_proxy/reflect", rec);
    auto fp_id = http::find(rec.headers, "x-fp-id");
    if (!fp_id && kind != Kind::footprint_reflect)
        fp_id = http::find(rec.headers, "x-fp-proxy-footprint-token");
    if (fp_id)
        req.headers.push_back({"x-fp-id", *fp_id});
    auto reason = http::find(rec.headers, "x-fp-access-reason");
    if (!reason)
        reason = http::find(rec.headers, "x-fp-proxy-access-reason");
    if (reason)
        req.headers.push_back({"x-fp-access-reason", *reason});
    if (auto ct = http::find(rec.headers, "content-type"))
        req.headers.push_back({"Content-Type", *ct});
    return req;
}

// /vault_proxy/jit, /vault_proxy/reflect: the recording's control headers, re-pointed.
Result<http::Request> footprint_jit(const Recording& rec, Kind kind, const Target& target) {
    auto req = post("/vault_proxy/jit", rec);
    for (const auto& h : rec.headers) {
        if (is_first_hop_only(h.name) || is_dropped_footprint_control(h.name))
            continue;
        if (kind == Kind::footprint_reflect && util::iequals(h.name, "x-fp-access-reason"))
            req.headers.push_back({"x-fp-proxy-access-reason", h.value});
        else
            req.headers.push_back(h);
    }
    std::string url = "/";
    if (kind == Kind::footprint_jit)
        url = http::find(rec.headers, k_target_header).value_or("/");
    auto pointed = repoint(url, target.echo_origin);
    if (!pointed)
        return pointed.error();
    req.headers.push_back({k_target_header, *pointed});
    add_pin(req, target);
    return req;
}

// /vault_proxy/{id}: what `serve` would take from the profile's configuration, made explicit.
Result<http::Request> footprint_proxy(const Recording& rec, const Target& target,
                                      const profile::Profile& profile) {
    std::string id = dialect::footprint::endpoint_of(rec.path);
    const profile::FootprintProxy* cfg = nullptr;
    for (const auto& p : profile.footprint_proxies)
        if (p.id == id)
            cfg = &p;
    if (!cfg)
        return make_error("replay.unknown_proxy", "proxy configuration " + id +
                                                      " is not in profile " + profile.name +
                                                      ": add it there, or replay --via reflect");
    if (!cfg->enabled)
        return make_error("replay.proxy_disabled",
                          "proxy configuration " + id + " is disabled in profile " + profile.name);
    auto req = post("/vault_proxy/jit", rec);
    for (const auto& h : rec.headers)
        if (!is_first_hop_only(h.name) && !is_dropped_footprint_control(h.name))
            req.headers.push_back(h);
    std::string url = cfg->url + http::find(rec.headers, "x-fp-path-and-query").value_or("");
    auto pointed = repoint(url, target.echo_origin);
    if (!pointed)
        return pointed.error();
    req.headers.push_back({k_target_header, *pointed});
    if (!http::find(rec.headers, "x-fp-proxy-method"))
        req.headers.push_back({"x-fp-proxy-method", cfg->method});
    for (const auto& [name, value] : cfg->headers) {
        std::string fwd = "x-fp-proxy-fwd-" + util::to_lower(name);
        if (!http::find(rec.headers, fwd))
            req.headers.push_back({fwd, value});
    }
    if (!cfg->access_reason.empty() && !http::find(rec.headers, "x-fp-proxy-access-reason"))
        req.headers.push_back({"x-fp-proxy-access-reason", cfg->access_reason});
    if (!cfg->client_cert.empty() && !http::find(rec.headers, "x-fp-proxy-client-cert")) {
        auto identity = dialect::client_identity(profile, cfg->client_cert);
        if (!identity)
            return identity.error();
        req.headers.push_back({"x-fp-proxy-client-cert", util::percent_encode(identity->first)});
        req.headers.push_back({"x-fp-proxy-client-key", util::percent_encode(identity->second)});
    }
    add_pin(req, target);
    return req;
}

// A request to a third party with templates in it: through jit with its method and headers.
Result<http::Request> plain(const Recording& rec, const Target& target) {
    auto req = post("/vault_proxy/jit", rec);
    auto pointed = repoint(rec.target, target.echo_origin);
    if (!pointed)
        return pointed.error();
    req.headers.push_back({k_target_header, *pointed});
    req.headers.push_back({"x-fp-proxy-method", rec.method});
    for (const auto& h : rec.headers) {
        if (util::starts_with_icase(h.name, "x-fp-")) {
            if (!is_dropped_footprint_control(h.name))
                req.headers.push_back(h);
        } else if (!http::is_hop_by_hop(h.name)) {
            req.headers.push_back({"x-fp-proxy-fwd-" + util::to_lower(h.name), h.value});
        }
    }
    add_pin(req, target);
    return req;
}

// Gr4vy and VTEX: the recorded request as it is, its destination header re-pointed.
Result<http::Request> repointed(const Recording& rec, const Target& target,
                                std::string_view url_header, const std::string& path) {
    http::Request req;
    req.method = rec.method;
    req.path = path;
    req.query = path == rec.path ? rec.query : std::string();
    req.body = rec.body;
    for (const auto& h : rec.headers) {
        if (is_first_hop_only(h.name))
            continue;
        if (util::iequals(h.name, url_header)) {
            auto pointed =
                repoint(h.value, target.unpinned_origin.empty() ? target.echo_origin
                                                                : target.unpinned_origin);
            if (!pointed)
                return make_error(pointed.error().code,
                                  std::string(url_header) + ": " + pointed.error().message);
            req.headers.push_back({h.name, *pointed});
        } else {
            req.headers.push_back(h);
        }
    }
    return req;
}

} // namespace

Kind classify(const Recording& rec) {
    std::string endpoint = dialect::footprint::endpoint_of(rec.path);
    if (endpoint == "jit")
        return Kind::footprint_jit;
    if (endpoint == "reflect")
        return Kind::footprint_reflect;
    if (!endpoint.empty())
        return Kind::footprint_proxy;
    if (rec.path == "/vault-forward")
        return Kind::gr4vy;
    if (dialect::vtex::is_vtex_path(rec.path) || http::find(rec.headers, "x-provider-forward-to"))
        return Kind::vtex;
    if (has_prefix_header(rec.headers, "x-vault-forward-"))
        return Kind::gr4vy;
    if (http::find(rec.headers, k_target_header))
        return Kind::footprint_jit;
    return Kind::plain;
}

std::string_view kind_name(Kind kind) {
    switch (kind) {
    case Kind::footprint_jit:
        return "Footprint jit";
    case Kind::footprint_proxy:
        return "Footprint proxy configuration";
    case Kind::footprint_reflect:
        return "Footprint reflect";
    case Kind::gr4vy:
        return "Gr4vy Vault Forward";
    case Kind::vtex:
        return "VTEX Secure Proxy";
    case Kind::plain:
        return "plain";
    }
    return "plain";
}

Result<std::string> repoint(const std::string& url, const std::string& origin) {
    auto parts = split_target(url);
    if (!parts)
        return parts.error();
    std::string base = origin;
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    std::string out = base + parts->first;
    if (!parts->second.empty())
        out += "?" + parts->second;
    return out;
}

Result<http::Request> plan(const Recording& rec, const Target& target,
                           const profile::Profile& profile) {
    Kind kind = classify(rec);
    if (target.via == Via::reflect)
        return reflect(rec, kind);
    switch (kind) {
    case Kind::footprint_jit:
    case Kind::footprint_reflect:
        return footprint_jit(rec, kind, target);
    case Kind::footprint_proxy:
        return footprint_proxy(rec, target, profile);
    case Kind::gr4vy:
        return repointed(rec, target, "x-vault-forward-url", "/vault-forward");
    case Kind::vtex:
        return repointed(rec, target, "x-provider-forward-to", rec.path);
    case Kind::plain:
        return plain(rec, target);
    }
    return plain(rec, target);
}

} // namespace vaultfwd::replay
