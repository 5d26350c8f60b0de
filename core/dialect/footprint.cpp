// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/footprint.hpp"

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "core/jsonpath/jsonpath.hpp"
#include "core/server/auth.hpp"
#include "core/template/footprint.hpp"
#include "core/template/render.hpp"
#include "core/tls/cert.hpp"
#include "core/util/json_depth.hpp"
#include "core/util/random.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::dialect::footprint {

namespace {

using nlohmann::json;

const char* k_default_reason = "Vault Proxy Default Reason";
constexpr std::size_t k_max_fp_ids = 5000;

struct Config {
    std::string url_text;
    std::string method = "POST";
    http::Headers forward; // name without prefix, value
    std::string client_cert_pem, client_key_pem;
    std::vector<std::string> pins;
    std::string ingress_content_type;
    std::vector<tmpl::IngressRule> rules;
    std::string access_reason;
    std::string global_fp_id;
};

struct Failure {
    http::Response response;
};

// Header values: x-fp-* "first occurrence wins, primary name before alias"; repeatable ones all.
std::optional<std::string> first(const http::Request& r, const char* name) {
    return http::find(r.headers, name);
}

bool visible_ascii(std::string_view v) {
    for (unsigned char c : v)
        if (c < 0x20 || c > 0x7e)
            if (c != '\t')
                return false;
    return true;
}

std::optional<http::Response> parse_forward_headers(const http::Request& r, bool silently_drop,
                                                    http::Headers& out) {
    const std::string prefix = "x-fp-proxy-fwd-";
    for (const auto& h : r.headers) {
        if (!util::starts_with_icase(h.name, prefix))
            continue;
        std::string name = util::to_lower(h.name.substr(prefix.size()));
        if (name.empty() || !http::is_token(name) || !visible_ascii(h.value) ||
            !http::is_safe_value(h.value)) {
            if (silently_drop)
                continue;
            return error(400, "Proxy configured with an invalid forward header: " + name,
                         "footprint.invalid_forward_header");
        }
        http::set(out, name, h.value); // last value wins
    }
    return std::nullopt;
}

std::optional<http::Response> decode_pem_header(const std::string& value, std::string& out) {
    auto decoded = util::percent_decode(value);
    if (!decoded)
        return error(400, "PEM data must be url encoded", "footprint.pem_not_url_encoded");
    out = *decoded;
    return std::nullopt;
}

// Splits a header value on commas outside quotes, brackets and parentheses (vaultfwd differs
// from Footprint here on purpose, so JSONPaths and filter args may hold commas).
std::vector<std::string> split_values(const std::vector<std::string>& values) {
    std::vector<std::string> out;
    for (const auto& v : values)
        for (auto& piece : tmpl::split_ingress_rule_header(v))
            if (!util::trim(piece).empty())
                out.push_back(std::string(util::trim(piece)));
    return out;
}

std::optional<http::Response> read_tls(const http::Request& r, Config& cfg) {
    auto cert = first(r, "x-fp-proxy-client-cert");
    auto key = first(r, "x-fp-proxy-client-key");
    if (cert.has_value() != key.has_value())
        return error(400, "Invalid or missing one of client cert and/or key headers",
                     "footprint.client_identity_incomplete");
    if (cert) {
        if (auto e = decode_pem_header(*cert, cfg.client_cert_pem))
            return e;
        if (auto e = decode_pem_header(*key, cfg.client_key_pem))
            return e;
        auto c = tls::load_cert_pem(cfg.client_cert_pem);
        auto k = tls::load_key_pem(cfg.client_key_pem);
        if (!c || !k)
            return error(400, "Client identity pem cert/key error: " +
                                  (!c ? c.error().message : k.error().message),
                         "footprint.client_identity_invalid");
        if (!tls::key_matches(c->get(), k->get()))
            return error(400, "Client identity pem cert/key error: the key does not match the certificate",
                         "footprint.client_identity_mismatch");
    }
    for (const auto& raw : http::find_all(r.headers, "x-fp-proxy-pin-cert")) {
        for (const auto& piece : util::split(raw, ',')) {
            auto trimmed = std::string(util::trim(piece));
            if (trimmed.empty())
                continue;
            std::string pem;
            if (auto e = decode_pem_header(trimmed, pem))
                return e;
            auto parsed = tls::load_certs_pem(pem);
            if (!parsed)
                return error(400, "Bad pin server certificate: " + parsed.error().message,
                             "footprint.bad_pin");
            cfg.pins.push_back(pem);
        }
    }
    return std::nullopt;
}

std::optional<http::Response> read_ingress(const std::vector<std::string>& rule_texts,
                                           const std::string& global, Config& cfg) {
    for (const auto& text : rule_texts) {
        if (!visible_ascii(text))
            return error(400, "Proxy rule has an invalid header value", "footprint.bad_ingress_rule");
        auto rule = tmpl::parse_ingress_rule(text, global);
        if (!rule)
            return error(400, rule.error().message, "footprint.bad_ingress_rule");
        auto path = jsonpath::compile(rule->path);
        if (!path)
            return error(400, "Target JSON path not found: " + rule->path + " (" +
                                  path.error().message + ")",
                         "footprint.bad_ingress_path");
        cfg.rules.push_back(std::move(*rule));
    }
    return std::nullopt;
}

// Validates the destination like Footprint, with the profile's allowlist standing in for its
// "global addresses only" rule (vaultfwd must reach local echo servers).
std::optional<http::Response> check_destination(const std::string& text, const Services& s,
                                                upstream::Url& out) {
    auto url = upstream::parse_url(text);
    if (!url)
        return error(400, "Destination target URL is an invalid URL", "upstream.bad_url",
                     url.error().message);
    auto host = url->host;
    if (host.size() >= 16 && util::iequals(host.substr(host.size() - 16), "onefootprint.com"))
        return error(400, "Target URL cannot be a Footprint URL", "footprint.footprint_url");
    if (auto allowed = upstream::check_allowed(*url, allowlist(s.profile)); !allowed)
        return error(400, "Destination target URL is an invalid URL", allowed.error().code,
                     allowed.error().message);
    out = *url;
    return std::nullopt;
}

std::string sanitize_content_type(const std::string& value) {
    auto semi = value.find(';');
    std::string base = value.substr(0, semi);
    static const std::set<std::string> k_kept = {"text/plain", "application/json",
                                                 "application/xml", "text/xml"};
    if (k_kept.count(base))
        return value;
    return "text/plain" + (semi == std::string::npos ? std::string() : value.substr(semi));
}

http::Response relay(const upstream::Outcome& out, std::string body) {
    http::Response res;
    const auto& up = out.response;
    res.status = up.status >= 500 ? 502 : up.status;
    res.headers.reserve(2 + 2 * up.headers.size());
    res.headers.push_back({"x-footprint-proxy-upstream-status-code", std::to_string(up.status)});
    res.headers.push_back({"x-content-type-options", "nosniff"});
    static constexpr std::string_view k_prefix = "x-footprint-proxy-fwd-";
    static constexpr std::string_view k_own[] = {"cache-control", "content-language", "expires",
                                                 "last-modified", "pragma"};
    for (const auto& h : up.headers) {
        std::string name;
        name.reserve(k_prefix.size() + h.name.size());
        name += k_prefix;
        for (char c : h.name)
            name += util::ascii_lower(c);
        const std::string_view lower = std::string_view(name).substr(k_prefix.size());
        bool own = std::find(std::begin(k_own), std::end(k_own), lower) != std::end(k_own);
        bool content_type = lower == "content-type";
        std::string own_name = own ? std::string(lower) : std::string();
        res.headers.push_back({std::move(name), h.value});
        if (own)
            res.headers.push_back({std::move(own_name), h.value});
        else if (content_type)
            res.headers.push_back({"content-type", sanitize_content_type(h.value)});
    }
    res.body = std::move(body);
    res.stream = up.stream;
    return res;
}

// Vaults the values the rules select and swaps them for their "<fp_id>.<di>" token.
std::optional<http::Response> apply_ingress(const Config& cfg, Services& s, std::string& body,
                                            std::size_t& vaulted, inspector::Secrets* secrets) {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded())
        return error(502, "Failed to parse upstream body as JSON: the body is not valid JSON",
                     "footprint.upstream_not_json");
    if (util::json_deeper_than(doc, util::k_max_json_depth))
        return error(502, "Failed to parse upstream body as JSON: nested too deeply",
                     "footprint.upstream_not_json");
    std::map<std::string, vault::Fields> to_store;
    bool bad_type = false;
    for (const auto& rule : cfg.rules) {
        auto query = jsonpath::compile(rule.path);
        if (!query)
            return error(400, "Target JSON path not found: " + rule.path, "footprint.bad_ingress_path");
        auto nodes = jsonpath::select(*query, doc);
        if (nodes.empty())
            continue;
        const json& v = *nodes.front().value; // one value per rule
        std::string raw;
        if (v.is_string())
            raw = v.get<std::string>();
        else if (v.is_number())
            raw = v.dump();
        else {
            bad_type = true;
            continue;
        }
        auto filtered = tmpl::apply_filters(rule.filters, raw);
        if (!filtered)
            return error(400, filtered.error().message, "footprint.ingress_filter_failed");
        to_store[rule.fp_id][rule.di] = *filtered;
        std::string token = rule.fp_id + "." + rule.di;
        if (secrets) {
            secrets->add(raw, token);
            secrets->add(*filtered, token);
        }
        std::string first_path = nodes.front().path;
        jsonpath::replace(*query, doc, [&](const json&, const std::string& path) -> std::optional<json> {
            if (path == first_path)
                return json(token);
            return std::nullopt;
        });
    }
    if (bad_type)
        return error(400, "Target JSON path value not a string or number",
                     "footprint.ingress_value_type");
    for (auto& [id, fields] : to_store) {
        auto existing = s.store.get(id);
        vault::Fields merged = existing ? *existing : vault::Fields{};
        for (auto& [k, v] : fields)
            merged[k] = v;
        if (auto r = s.store.put(id, merged); !r)
            return error(500, "something went wrong", r.error().code);
        vaulted += fields.size();
    }
    body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
    return std::nullopt;
}

http::Response render_error(const tmpl::RenderOutcome& out) {
    int status = tmpl::http_status(out);
    const auto* p = tmpl::primary_problem(out);
    std::string context;
    for (std::size_t i = 0; i < out.problems.size() && i < 20; ++i) {
        if (i)
            context += "; ";
        context += out.problems[i].to_error().describe();
    }
    return error(status, status == 500 ? "something went wrong" : tmpl::footprint_error_message(out),
                 p ? p->code : "template.failed", context);
}

} // namespace

std::string endpoint_of(const std::string& path) {
    const std::string prefix = "/vault_proxy/";
    if (path.rfind(prefix, 0) != 0)
        return {};
    auto rest = path.substr(prefix.size());
    if (rest.empty() || rest.find('/') != std::string::npos)
        return {};
    return rest;
}

http::Response error(int status, const std::string& message, const std::string& code,
                     const std::string& context) {
    std::string support_id = "vaultfwd_" + util::random_hex(8);
    json inner = {{"message", message}, {"status_code", status}, {"support_id", support_id}};
    json top = {{"message", message}, {"support_id", support_id}};
    if (!code.empty()) {
        inner["code"] = code;
        top["code"] = code;
    }
    if (!context.empty()) {
        inner["context"] = context;
        top["context"] = context;
    }
    top["error"] = inner;
    http::Response res;
    res.status = status;
    res.headers.push_back({"content-type", "application/json"});
    res.headers.push_back({k_error_header, code.empty() ? "footprint.error" : code});
    res.body = top.dump(-1, ' ', false, json::error_handler_t::replace);
    return res;
}

std::optional<http::Response> check_content_length(const std::string& content_length,
                                                   std::size_t limit) {
    auto t = util::trim(content_length);
    if (t.empty())
        return std::nullopt;
    std::size_t n = 0;
    for (char c : t) {
        if (!std::isdigit(static_cast<unsigned char>(c)) || n > (1ULL << 50))
            return error(400, "The request is missing a Content-Length header.",
                         "footprint.bad_content_length");
        n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (n > limit)
        return error(400, "The request is too large, max size accepted is " + std::to_string(limit) +
                              " KB.",
                     "request.too_large");
    return std::nullopt;
}

server::Step handle(const std::string& endpoint, const http::Request& r, const Caller& caller,
                    Services& s, server::AccessEntry& log) {
    vault::Store::ReadScope one_state(s.store); // the request's reads: one look at the file
    log.dialect = endpoint == "reflect" ? "reflect" : "footprint";
    if (r.method != "POST")
        return error(405, "Method not allowed: use POST", "request.method_not_allowed");
    if (r.body.size() > s.profile.limits.max_body_bytes)
        return error(400, "The request is too large, max size accepted is " +
                              std::to_string(s.profile.limits.max_body_bytes) + " KB.",
                     "request.too_large");
    if (!util::is_valid_utf8(r.body))
        return error(400, "Invalid body: proxy requests must contain utf8 only", "request.not_utf8");

    Config cfg;
    const bool is_jit = endpoint == "jit";
    const bool is_reflect = endpoint == "reflect";
    const profile::FootprintProxy* stored = nullptr;
    if (!is_jit && !is_reflect) {
        for (const auto& p : s.profile.footprint_proxies)
            if (p.id == endpoint)
                stored = &p;
        if (!stored)
            return error(404, "Proxy configuration " + endpoint + " not found", "footprint.proxy_not_found");
        if (!stored->enabled)
            return error(400, "Proxy configuration is disabled. Please enable it to use it.",
                         "footprint.proxy_disabled");
    }

    // The global fp_id: x-fp-id, alias x-fp-proxy-footprint-token (not on reflect).
    if (auto id = first(r, "x-fp-id"))
        cfg.global_fp_id = *id;
    else if (!is_reflect)
        if (auto alias = first(r, "x-fp-proxy-footprint-token"))
            cfg.global_fp_id = *alias;

    if (is_reflect) {
        cfg.access_reason = first(r, "x-fp-access-reason").value_or(k_default_reason);
    } else if (is_jit) {
        auto target = first(r, "x-fp-proxy-target-url");
        if (!target)
            return error(400, "Missing required header: x-fp-proxy-target-url", "footprint.missing_target_url");
        cfg.url_text = *target;
        if (auto m = first(r, "x-fp-proxy-method"))
            cfg.method = *m;
        cfg.access_reason = first(r, "x-fp-proxy-access-reason").value_or(k_default_reason);
        if (auto e = parse_forward_headers(r, false, cfg.forward))
            return *e;
        if (auto e = read_tls(r, cfg))
            return *e;
        cfg.ingress_content_type = first(r, "x-fp-proxy-ingress-content-type").value_or("");
        auto rules = split_values(http::find_all(r.headers, "x-fp-proxy-ingress-rule"));
        if (!rules.empty() && cfg.ingress_content_type.empty())
            return error(400, "Ingress rule content type not specified, but ingress rules defined",
                         "footprint.ingress_content_type_missing");
        if (!cfg.ingress_content_type.empty() && cfg.ingress_content_type != "json" &&
            cfg.ingress_content_type != "unspecified")
            return error(400, "Ingress rule content type not specified, but ingress rules defined",
                         "footprint.ingress_content_type_unsupported",
                         "only json is supported, got \"" + cfg.ingress_content_type + "\"");
        if (auto e = read_ingress(rules, cfg.global_fp_id, cfg))
            return *e;
    } else {
        cfg.url_text = stored->url;
        if (auto extra = first(r, "x-fp-path-and-query"))
            cfg.url_text += *extra;
        cfg.method = first(r, "x-fp-proxy-method").value_or(stored->method);
        cfg.access_reason = stored->access_reason.empty() ? k_default_reason : stored->access_reason;
        for (const auto& [k, v] : stored->headers)
            http::set(cfg.forward, util::to_lower(k), v);
        parse_forward_headers(r, true, cfg.forward); // {id}: bad request headers are dropped
        if (!stored->client_cert.empty()) {
            auto identity = client_identity(s.profile, stored->client_cert);
            if (!identity)
                return error(500, "something went wrong", identity.error().code, identity.error().message);
            cfg.client_cert_pem = identity->first;
            cfg.client_key_pem = identity->second;
        }
        for (const auto& pin : stored->pins) {
            auto pem = pin_pem(s.profile, pin);
            if (!pem)
                return error(500, "something went wrong", pem.error().code, pem.error().message);
            cfg.pins.push_back(*pem);
        }
        cfg.ingress_content_type = stored->ingress_content_type;
        if (!stored->ingress_rules.empty() && cfg.global_fp_id.empty())
            return error(400, "Must specifiy footprint user token header for ingress rules",
                         "footprint.ingress_needs_fp_id");
        if (auto e = read_ingress(stored->ingress_rules, cfg.global_fp_id, cfg))
            return *e;
    }
    log.access_reason = cfg.access_reason;
    if (!is_reflect && !http::is_token(cfg.method))
        return error(400, "Destination method is invalid", "footprint.bad_method");

    upstream::Url url;
    if (!is_reflect)
        if (auto e = check_destination(cfg.url_text, s, url))
            return *e;

    tmpl::RenderRequest req;
    req.dialect = tmpl::Dialect::footprint;
    req.body = r.body;
    req.global_fp_id = cfg.global_fp_id;
    req.source = &s.store;
    const profile::ApiKey* key = caller.key;
    req.may_reveal = [key](std::string_view di) { return key && server::may_reveal(*key, di); };
    req.secrets = log.secrets.get();
    auto rendered = tmpl::render(req);
    log.tokens = rendered.token_count;
    if (!rendered.ok)
        return render_error(rendered);
    if (rendered.record_ids.size() > k_max_fp_ids)
        return error(400, "Cannot exceed 5000 fp_ids per proxy invocation.", "footprint.too_many_fp_ids");

    if (is_reflect) {
        http::Response res;
        res.status = 200;
        res.body = std::move(rendered.body);
        return res;
    }

    upstream::Call call = base_call(s.profile);
    call.method = cfg.method;
    call.url = url;
    call.headers = cfg.forward;
    call.body = std::move(rendered.body);
    call.tls.client_cert_pem = cfg.client_cert_pem;
    call.tls.client_key_pem = cfg.client_key_pem;
    call.tls.pin_pems = cfg.pins;
    log.upstream_host = host_port(url);
    // Nothing reads the answer unless ingress rules vault from it: then it is read whole (up to
    // limits.max_body_bytes); otherwise it is relayed as it arrives.
    const bool ingress = !cfg.rules.empty() && cfg.ingress_content_type == "json";
    call.stream_answer = !ingress;
    call.max_answer_bytes = s.profile.limits.max_body_bytes;
    // The response phase: Footprint's relay of the upstream's answer, after ingress vaulting.
    auto respond = [cfg = std::move(cfg), ingress, &s, &log](upstream::Outcome out) -> http::Response {
        if (!out.ok()) {
            if (out.failure == upstream::FailureKind::bad_request)
                return error(400, "Proxy configured with an invalid forward header: " + out.error_message,
                             out.error_code);
            if (out.failure == upstream::FailureKind::timeout)
                return error(504, "Forward reqwest error", out.error_code, out.error_message);
            return error(400, "Forward reqwest error", out.error_code, out.error_message);
        }
        std::string body = std::move(out.response.body);
        bool is_2xx = out.response.status >= 200 && out.response.status < 300;
        if (is_2xx && ingress) {
            std::size_t vaulted = 0;
            if (auto e = apply_ingress(cfg, s, body, vaulted, log.secrets.get()))
                return *e;
            log.tokens += vaulted;
        }
        return relay(out, std::move(body));
    };
    return server::UpstreamStep{std::move(call), std::move(respond)};
}

} // namespace vaultfwd::dialect::footprint
