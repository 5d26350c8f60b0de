// SPDX-License-Identifier: Apache-2.0
#include "core/server/api_server.hpp"

#include <chrono>
#include <thread>
#include <httplib.h>

#include "core/dialect/footprint.hpp"
#include "core/dialect/gr4vy.hpp"
#include "core/dialect/vtex.hpp"
#include "core/server/auth.hpp"
#include "core/server/front_door.hpp"
#include "core/server/httplib_bridge.hpp"
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

constexpr const char* k_dispatched = "vaultfwd:dispatched"; // see the error handler

bool is_footprint_path(const std::string& target) { return target.rfind("/vault_proxy/", 0) == 0; }

// Footprint paths answer a body over the limit (declared or read) in Footprint's own way.
http::Response too_large(const std::string& target, std::size_t limit) {
    if (is_footprint_path(target))
        return *dialect::footprint::check_content_length(std::to_string(limit + 1), limit);
    return dialect::json_error(413, "request.too_large",
                               "the request body is larger than limits.max_body_bytes (" +
                                   std::to_string(limit) + " bytes)");
}

// httplib's own refusals, which come without a body.
http::Response httplib_error(int status, const std::string& target, std::size_t limit) {
    switch (status) {
    case 413:
        return too_large(target, limit);
    case 414:
        return dialect::json_error(414, "request.uri_too_long", "the request target is longer than 8192 bytes");
    case 404:
        return dialect::json_error(404, "request.not_found", "no endpoint at this path");
    case 405:
        return dialect::json_error(405, "request.method_not_allowed", "this method is not served here");
    case 408:
        return dialect::json_error(408, "request.timeout", "the request took too long to arrive");
    case 411:
        return dialect::json_error(411, "request.length_required", "the request needs a Content-Length");
    case 431:
        return dialect::json_error(431, "request.header_too_large", "the request head is too large");
    default:
        if (status >= 500)
            return dialect::json_error(status, "server.internal", "something went wrong");
        return dialect::json_error(status, "request.malformed", "the HTTP request is malformed");
    }
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
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return make_error("server.bad_listen", "listen port \"" + port + "\" is not a number");
    int p = std::stoi(port);
    if (p > 65535 || host.empty())
        return make_error("server.bad_listen", "listen address \"" + text + "\" is out of range");
    return std::make_pair(host, p);
}

ApiServer::ApiServer(const profile::Profile& profile, vault::Store& store,
                     upstream::Client& client, AccessLog& log)
    : m_profile(profile), m_services{profile, store, client}, m_log(log),
      m_server(std::make_unique<httplib::Server>()) {
    int threads = profile.limits.threads;
    m_server->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    // httplib's default also sets SO_REUSEPORT, which would let a second serve share the port
    // silently; plain SO_REUSEADDR makes a taken port the clear error it should be.
    m_server->set_socket_options([this](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        m_internal_socket = sock;
    });
    // The front door relays each answer: without this, Nagle's algorithm and the relay's
    // delayed ACK add 40 ms to every answer (httplib writes head and body separately).
    m_server->set_tcp_nodelay(true);
    m_server->set_keep_alive_max_count(10000);
    m_server->set_keep_alive_timeout(5);
    m_server->set_read_timeout(30, 0);
    m_server->set_write_timeout(30, 0);
    m_server->set_payload_max_length(profile.limits.max_body_bytes);
    const std::size_t limit = profile.limits.max_body_bytes;
    // Footprint fails early on a declared Content-Length over the limit, before reading the body.
    m_server->set_pre_routing_handler([this, limit](const httplib::Request& req, httplib::Response& res) {
        // Only the front door's own connections are served: a local process that found the
        // internal port would otherwise skip the request guard.
        if (!m_door->relayed_from(req.remote_addr, req.remote_port)) {
            to_httplib(dialect::json_error(403, "server.not_relayed",
                                           "this is serve's internal port; send requests to the "
                                           "API port (--api-listen)"),
                       res);
            res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (req.path.rfind("/vault_proxy/", 0) != 0 || !req.has_header("Content-Length"))
            return httplib::Server::HandlerResponse::Unhandled;
        if (auto err = dialect::footprint::check_content_length(req.get_header_value("Content-Length"), limit)) {
            to_httplib(*err, res);
            res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
        AccessEntry entry;
        auto started = std::chrono::steady_clock::now();
        http::Response out;
        try {
            out = handle(from_httplib(req), entry);
        } catch (const std::exception&) {
            out = dialect::json_error(500, "server.internal", "something went wrong");
        }
        to_httplib(out, res);
        // Marks an answer the dialects made (or relayed from an upstream), so that the error
        // handler leaves an empty 4xx/5xx alone. `location` is never written by httplib's server.
        res.location = k_dispatched;
        entry.method = req.method;
        entry.path = req.path;
        entry.status = out.status;
        if (entry.error_code.empty())
            if (auto code = http::find(out.headers, dialect::k_error_header))
                entry.error_code = *code;
        entry.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        m_log.write(entry);
    };
    m_server->Get(".*", dispatch);
    m_server->Post(".*", dispatch);
    m_server->Put(".*", dispatch);
    m_server->Patch(".*", dispatch);
    m_server->Delete(".*", dispatch);
    m_server->Options(".*", dispatch);
    m_server->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        to_httplib(dialect::json_error(500, "server.internal", "something went wrong"), res);
    });
    m_server->set_error_handler([this, limit](const httplib::Request& req, httplib::Response& res) {
        if (res.location == k_dispatched || !res.body.empty())
            return;
        http::Response out = httplib_error(res.status, req.target.empty() ? req.path : req.target, limit);
        res.headers.clear();
        to_httplib(out, res);
        AccessEntry entry;
        entry.method = req.method.substr(0, 20);
        entry.path = util::redact(req.path.substr(0, 200));
        entry.status = out.status;
        entry.error_code = http::find(out.headers, dialect::k_error_header).value_or("");
        m_log.write(entry);
    });

    FrontDoorOptions door;
    door.limits = {profile.limits.max_header_bytes, profile.limits.max_body_bytes};
    door.relay_idle_ms = std::max(60000, profile.upstream.connect_timeout_ms + profile.upstream.timeout_ms + 5000);
    door.listen_option = "--api-listen";
    m_door = std::make_unique<FrontDoor>(door, [this, limit](const Refusal& r) {
        http::Response out;
        if (r.kind == Refusal::Kind::too_large)
            out = too_large(r.target, limit);
        else if (r.kind == Refusal::Kind::bad_content_length && is_footprint_path(r.target))
            out = *dialect::footprint::check_content_length("x", limit);
        else
            out = dialect::json_error(r.status, r.code, r.message);
        AccessEntry entry;
        entry.path = util::redact(r.target.substr(0, r.target.find('?')).substr(0, 200));
        entry.status = out.status;
        entry.error_code = http::find(out.headers, dialect::k_error_header).value_or("");
        m_log.write(entry);
        return out;
    });
}

ApiServer::~ApiServer() { stop(); }

Result<int> ApiServer::bind(const std::string& host, int port) {
    int internal = m_server->bind_to_any_port("127.0.0.1");
    if (internal <= 0)
        return make_error("server.bind", "cannot listen on 127.0.0.1 for the API port's internal server");
    // httplib listens with a backlog of 5: a burst of new client connections (each opens an
    // internal one) would overflow it and wait for SYN retransmits, a second or more each.
    if (m_internal_socket >= 0)
        ::listen(m_internal_socket, 1024);
    auto bound = m_door->bind(host, port);
    if (!bound)
        return bound.error();
    m_door->relay_to(internal);
    m_bound = true;
    return *bound;
}

bool ApiServer::run() {
    if (!m_bound)
        return false;
    std::atomic<bool> inner_done{false};
    std::thread inner([this, &inner_done] {
        m_server->listen_after_bind();
        inner_done = true;
    });
    // The internal server must be running before it can be stopped.
    while (!m_server->is_running() && !inner_done)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    bool ok = !inner_done;
    if (ok)
        m_door->run();
    m_server->stop();
    inner.join();
    return ok;
}

void ApiServer::stop() {
    if (m_door)
        m_door->stop();
    if (m_server)
        m_server->stop();
}

http::Response ApiServer::handle(const http::Request& r, AccessEntry& entry) {
    if (r.path == "/healthz") {
        entry.dialect = "health";
        http::Response res;
        res.headers.push_back({"content-type", "application/json"});
        res.body = "{\"status\":\"ok\"}";
        return res;
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
