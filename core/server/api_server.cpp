// SPDX-License-Identifier: Apache-2.0
#include "core/server/api_server.hpp"

#include <algorithm>

#include "core/dialect/footprint.hpp"
#include "core/dialect/gr4vy.hpp"
#include "core/dialect/vtex.hpp"
#include "core/inspector/inspector.hpp"
#include "core/server/auth.hpp"
#include "core/server/engine.hpp"
#include "core/util/redact.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::server {

namespace {

http::Response unauthorized(bool footprint) {
    const std::string msg = "missing or unknown API key: pass it with -u KEY: or "
                            "'Authorization: Bearer KEY' (see 'vaultfwd config show')";
    http::Response res = footprint ? dialect::footprint::error(401, msg, "auth.bad_api_key")
                                   : dialect::gr4vy::error(401, "unauthorized", msg, "auth.bad_api_key");
    res.headers.push_back({"www-authenticate", "Basic realm=\"vaultfwd\""});
    return res;
}

bool is_footprint_path(const std::string& target) { return target.rfind("/vault_proxy/", 0) == 0; }

// Footprint paths answer a body over the limit (declared or read) in Footprint's own way.
http::Response too_large(const std::string& target, std::size_t limit) {
    if (is_footprint_path(target))
        return *dialect::footprint::check_content_length(std::to_string(limit + 1), limit);
    return dialect::json_error(413, "request.too_large",
                               "the request body is larger than limits.max_body_bytes (" +
                                   std::to_string(limit) + " bytes)");
}

} // namespace

Result<std::pair<std::string, int>> parse_listen(const std::string& text) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size())
        return make_error("server.bad_listen", "listen address \"" + text + "\" must be host:port");
    std::string host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    std::string port = text.substr(colon + 1);
    if (!std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return make_error("server.bad_listen", "listen port \"" + port + "\" is not a number");
    if (host.empty())
        return make_error("server.bad_listen", "listen address \"" + text + "\" has no host (write 127.0.0.1:" + port + ")");
    // Compared as text first: a long run of digits would overflow stoi, and must not wrap.
    if (port.size() > 5 || std::stoi(port) > 65535)
        return make_error("server.bad_listen", "listen port " + port + " of \"" + text +
                                                   "\" is out of range: a port is 0 to 65535 (0 picks a free one)");
    int p = std::stoi(port);
    return std::make_pair(host, p);
}

// The API port's phases: Footprint's early Content-Length check on the head, the dialects on a
// worker, refusals in the dialect's envelope, one access-log line per exchange.
class ApiPhases final : public Phases {
  public:
    explicit ApiPhases(ApiServer& api) : m_api(api), m_limit(api.m_profile.limits.max_body_bytes) {}

    std::optional<http::Response> on_head(Exchange& ex) override {
        // Footprint fails early on a declared Content-Length over the limit, before the body.
        if (!is_footprint_path(ex.request.path))
            return std::nullopt;
        // Its proxy endpoints only read the vault on the way out (ingress vaulting happens in
        // the response phase, on a worker): the request phase may run on the event loop.
        ex.request_on_loop = true;
        if (auto length = http::find(ex.request.headers, "content-length"))
            return dialect::footprint::check_content_length(*length, m_limit);
        return std::nullopt;
    }

    Step on_request(Exchange& ex) override {
        // A header sent with an empty value counts as absent for the dialects (an empty
        // x-fp-proxy-method is the default method, not an invalid one).
        auto& h = ex.request.headers;
        h.erase(std::remove_if(h.begin(), h.end(), [](const http::Header& x) { return x.value.empty(); }), h.end());
        try {
            return m_api.handle(ex.request, ex.entry);
        } catch (const std::exception&) {
            return dialect::json_error(500, "server.internal", "something went wrong");
        }
    }

    http::Response on_refusal(const http::ParseError& e, Exchange& ex) override {
        const std::string target = e.target.empty() ? ex.head.target : e.target;
        ex.entry.path = target.substr(0, target.find('?')).substr(0, 200);
        if (e.code == "request.too_large")
            return too_large(target, m_limit);
        // Footprint answers a Content-Length that is not a number in its own envelope.
        if (is_footprint_path(target) && e.status == 400 &&
            e.message.rfind("Content-Length is not a", 0) == 0)
            return *dialect::footprint::check_content_length("x", m_limit);
        return dialect::json_error(e.status, e.code, e.message);
    }

    void log(const Exchange& ex) override { m_api.m_log.write(ex.entry); }

  private:
    ApiServer& m_api;
    std::size_t m_limit;
};

ApiServer::ApiServer(const profile::Profile& profile, vault::Store& store, upstream::Client& client, AccessLog& log)
    : m_profile(profile), m_services{profile, store, client}, m_log(log), m_phases(std::make_unique<ApiPhases>(*this)) {}

ApiServer::~ApiServer() = default;

Result<int> ApiServer::bind(const std::string& host, int port) {
    EngineOptions options = engine_options(m_profile, m_services.client, "--api-listen");
    options.inspector = m_inspector;
    options.listener = "api";
    return m_port.bind(std::move(options), *m_phases, host, port);
}

bool ApiServer::run() { return m_port.run(); }

void ApiServer::stop() { m_port.stop(); }

Step ApiServer::handle(const http::Request& r, AccessEntry& entry) {
    if (r.path == "/healthz") {
        entry.dialect = "health";
        http::Response res;
        res.headers.push_back({"content-type", "application/json"});
        res.body = "{\"status\":\"ok\"}";
        return res;
    }
    if (m_inspector && r.path.rfind(inspector::k_prefix, 0) == 0) {
        entry.dialect = "inspector";
        return m_inspector->handle(r);
    }
    if (dialect::vtex::is_vtex_path(r.path))
        return dialect::vtex::handle(r, m_services, entry);
    std::string fp_endpoint = dialect::footprint::endpoint_of(r.path);
    bool is_gr4vy = r.path == "/vault-forward";
    if (fp_endpoint.empty() && !is_gr4vy)
        return dialect::json_error(404, "request.not_found",
                                   "no endpoint at " + util::redact(r.path) +
                                       ": use /vault_proxy/jit, /vault_proxy/reflect, "
                                       "/vault_proxy/{id}, /vault-forward or a VTEX payment URL");
    const profile::ApiKey* key =
        authenticate_api_key(m_profile.api_keys, http::find(r.headers, "authorization").value_or(""));
    if (!key) {
        entry.dialect = is_gr4vy ? "gr4vy" : "footprint";
        return unauthorized(!is_gr4vy);
    }
    entry.principal = key->id;
    if (is_gr4vy)
        return dialect::gr4vy::handle(r, m_services, entry);
    return dialect::footprint::handle(fp_endpoint, r, {key}, m_services, entry);
}

} // namespace vaultfwd::server
