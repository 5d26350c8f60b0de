// SPDX-License-Identifier: Apache-2.0
#include "core/inspector/inspector.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>

#include <openssl/crypto.h>

#include "core/profile/edit.hpp"
#include "core/server/auth.hpp"
#include "core/server/engine.hpp"
#include "core/util/redact.hpp"
#include "core/util/strings.hpp"
#include "core/vault/alias.hpp"
#include "inspector_page.hpp"

namespace vaultfwd::inspector {

using nlohmann::json;

// ---- ring -------------------------------------------------------------------------------------

std::uint64_t Ring::push(Record record) {
    std::lock_guard lock(m_mutex);
    record.id = m_next++;
    m_records.push_back(std::make_shared<const Record>(std::move(record)));
    while (m_records.size() > m_capacity)
        m_records.pop_front();
    return m_records.back()->id;
}

std::vector<std::shared_ptr<const Record>> Ring::since(std::uint64_t after,
                                                       const std::function<bool(const Record&)>& keep) const {
    std::lock_guard lock(m_mutex);
    std::vector<std::shared_ptr<const Record>> out;
    for (const auto& r : m_records)
        if (r->id > after && (!keep || keep(*r)))
            out.push_back(r);
    return out;
}

std::shared_ptr<const Record> Ring::find(std::uint64_t id) const {
    std::lock_guard lock(m_mutex);
    for (const auto& r : m_records)
        if (r->id == id)
            return r;
    return nullptr;
}

std::uint64_t Ring::last_id() const {
    std::lock_guard lock(m_mutex);
    return m_next - 1;
}

std::size_t Ring::size() const {
    std::lock_guard lock(m_mutex);
    return m_records.size();
}

// ---- route maker ------------------------------------------------------------------------------

namespace {

// A regex that matches exactly `text` (VGS's Java-style syntax, as routes compile it).
std::string exact(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (std::string_view("\\^$.|?*+()[]{}/-").find(c) != std::string_view::npos)
            out += '\\';
        out += c;
    }
    return out;
}

Error bad_route(const std::string& message) { return make_error("inspector.bad_route", message); }

} // namespace

Result<toml::table> make_route(const Record& r, const RouteSpec& spec) {
    if (r.listener != "proxy" && r.listener != "inbound")
        return bad_route("exchange " + std::to_string(r.id) + " went through the " + r.listener +
                         " listener: routes are made from forward-proxy or inbound exchanges");
    if (spec.phase != "request" && spec.phase != "response")
        return bad_route("phase must be \"request\" or \"response\" (got \"" + spec.phase + "\")");
    if (spec.operation != "reveal" && spec.operation != "redact")
        return bad_route("operation must be \"reveal\" or \"redact\" (got \"" + spec.operation + "\")");
    if (spec.operation == "redact" && !vault::parse_alias_format(spec.format))
        return bad_route("format \"" + spec.format +
                         "\" is not an alias format (UUID, RAW_UUID, NUM_LENGTH_PRESERVING, FPE_SIX_T_FOUR, "
                         "FPE_T_FOUR, PFPT, NON_LUHN_FPE_ALPHANUMERIC)");
    if (spec.json_paths.empty() && spec.form_fields.empty() && spec.headers.empty())
        return bad_route("pick at least one JSON field, form field or header");
    std::string id = spec.id.empty() ? "inspector-" + std::to_string(r.id) : spec.id;
    for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
            return bad_route("route id \"" + id + "\" may hold letters, digits, '-', '_' and '.' only");

    toml::table route;
    route.insert("id", id);
    route.insert("description", "made by the inspector from exchange " + std::to_string(r.id) + " (" +
                                    r.method + " " + r.host + r.path + ")");
    if (r.listener == "inbound") {
        route.insert("direction", "inbound");
        std::string host = http::find(r.client_request.headers, "host").value_or("");
        if (host.empty())
            return bad_route("exchange " + std::to_string(r.id) + " has no Host header to match");
        if (host.front() != '[')
            host = host.substr(0, host.find(':'));
        route.insert("host", exact(host));
        // The upstream's origin, as the exchange dialed it.
        const std::string& u = r.upstream_url;
        auto scheme_end = u.find("://");
        if (scheme_end == std::string::npos)
            return bad_route("exchange " + std::to_string(r.id) + " reached no upstream to point the route at");
        auto path_start = u.find('/', scheme_end + 3);
        route.insert("upstream", u.substr(0, path_start));
    } else {
        route.insert("direction", "outbound");
        std::string host = r.resend.tunnel_host;
        if (host.empty()) {
            auto scheme_end = r.upstream_url.find("://");
            if (scheme_end != std::string::npos) {
                std::string rest = r.upstream_url.substr(scheme_end + 3);
                rest = rest.substr(0, rest.find('/'));
                host = rest.front() == '[' ? rest.substr(1, rest.find(']') - 1) : rest.substr(0, rest.find(':'));
            }
        }
        if (host.empty())
            return bad_route("exchange " + std::to_string(r.id) + " has no upstream host to match");
        route.insert("host", exact(host));
    }
    route.insert("path", exact(r.path));
    toml::array filters;
    auto add_filter = [&](const std::string& transformer, const std::vector<std::string>& targets) {
        if (targets.empty())
            return;
        toml::table f;
        f.insert("phase", spec.phase);
        f.insert("operation", spec.operation);
        f.insert("transformer", transformer);
        toml::array t;
        for (const auto& x : targets)
            t.push_back(x);
        f.insert("targets", std::move(t));
        if (spec.operation == "redact")
            f.insert("format", spec.format);
        filters.push_back(std::move(f));
    };
    add_filter("json_path", spec.json_paths);
    add_filter("form_field", spec.form_fields);
    add_filter("header", spec.headers);
    route.insert("filters", std::move(filters));
    return route;
}

std::string route_text(const toml::table& route) { return profile::append_table_text("", "routes", route); }

// ---- latency ----------------------------------------------------------------------------------

void Latency::add(const std::string& dialect, std::int64_t time_ms, double duration_ms) {
    std::lock_guard lock(m_mutex);
    auto& q = m_samples[dialect.empty() ? "other" : dialect];
    q.emplace_back(time_ms, duration_ms);
    while (q.size() > 20000 || (!q.empty() && q.front().first < time_ms - 3600000))
        q.pop_front();
}

json Latency::json(std::int64_t now_ms, std::int64_t window_ms, std::int64_t bucket_ms) const {
    std::lock_guard lock(m_mutex);
    nlohmann::json out = nlohmann::json::object();
    const std::int64_t start = now_ms - window_ms;
    for (const auto& [dialect, q] : m_samples) {
        std::map<std::int64_t, std::vector<double>> buckets;
        for (const auto& [t, d] : q)
            if (t >= start)
                buckets[(t - start) / bucket_ms].push_back(d);
        if (buckets.empty())
            continue;
        nlohmann::json points = nlohmann::json::array();
        for (auto& [b, v] : buckets) {
            std::sort(v.begin(), v.end());
            auto at = [&v](double quantile) {
                std::size_t i = static_cast<std::size_t>(std::ceil(quantile * static_cast<double>(v.size()))) - 1;
                return v[std::min(i, v.size() - 1)];
            };
            points.push_back({{"t", start + b * bucket_ms}, {"n", v.size()}, {"p50", at(0.50)}, {"p99", at(0.99)}});
        }
        out[dialect] = std::move(points);
    }
    return nlohmann::json{{"now", now_ms}, {"window_ms", window_ms}, {"bucket_ms", bucket_ms}, {"dialects", out}};
}

// ---- capture points ---------------------------------------------------------------------------

namespace {

std::string reason_of(int status) { return std::string(http::status_text(status)); }

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

thread_local std::promise<std::uint64_t>* t_resend_promise = nullptr;

} // namespace

void begin_capture(server::Exchange& ex, std::size_t limit) {
    auto cap = std::make_shared<Capture>(limit);
    Message& m = cap->client_request;
    m.present = true;
    m.start = ex.head.method + " " + ex.head.target + " HTTP/1." + std::to_string(ex.head.version_minor);
    m.headers = ex.head.headers;
    if (ex.request_body) {
        m.streamed = true;
        ex.request_body = std::make_shared<TeeSource>(std::move(ex.request_body), cap, &Capture::client_request);
    } else {
        cap->keep(m, ex.request.body);
    }
    ex.entry.secrets = cap->secrets;
    ex.capture = std::move(cap);
}

void capture_call(const std::shared_ptr<Capture>& cap, upstream::Call& call) {
    Message& m = cap->upstream_request;
    m.present = true;
    m.start = call.method + " " + call.url.path_and_query + " HTTP/1.1";
    std::string host = call.url.host_for_url();
    if (!((call.url.scheme == "https" && call.url.port == 443) || (call.url.scheme == "http" && call.url.port == 80)))
        host += ":" + std::to_string(call.url.port);
    m.headers.push_back({"Host", host});
    for (const auto& h : call.headers)
        if (!http::is_hop_by_hop(h.name))
            m.headers.push_back(h);
    cap->upstream_url = call.url.to_string();
    if (call.body_source) {
        m.streamed = true;
        call.body_source = std::make_shared<TeeSource>(std::move(call.body_source), cap, &Capture::upstream_request);
    } else {
        cap->keep(m, call.body);
    }
}

void capture_outcome(const std::shared_ptr<Capture>& cap, upstream::Outcome& out) {
    if (!out.ok()) {
        cap->upstream_error = out.error_code;
        return;
    }
    Message& m = cap->upstream_response;
    m.present = true;
    m.start = "HTTP/1.1 " + std::to_string(out.response.status) + " " + reason_of(out.response.status);
    m.headers = out.response.headers;
    if (out.response.stream) {
        m.streamed = true;
        out.response.stream =
            std::make_shared<TeeSource>(std::move(out.response.stream), cap, &Capture::upstream_response);
    } else {
        cap->keep(m, out.response.body);
    }
}

std::shared_ptr<http::BodySource> capture_answer_stream(const std::shared_ptr<Capture>& cap,
                                                        std::shared_ptr<http::BodySource> body) {
    cap->client_response_streamed = true;
    cap->client_response.streamed = true;
    return std::make_shared<TeeSource>(std::move(body), cap, &Capture::client_response);
}

// ---- the inspector ----------------------------------------------------------------------------

struct Inspector::Pending {
    std::shared_ptr<Capture> capture;
    Facts facts;
    std::promise<std::uint64_t>* resend = nullptr;
};

Inspector::Inspector(Settings settings, const profile::Profile& profile, std::string token)
    : m_settings(settings), m_profile(profile), m_token(std::move(token)), m_ring(settings.exchanges) {
    if (m_settings.enabled)
        m_thread = std::thread([this] { run(); });
}

Inspector::~Inspector() { stop(); }

void Inspector::stop() {
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping && !m_thread.joinable())
            return;
        m_stopping = true;
    }
    m_wake.notify_all();
    m_recorded.notify_all();
    if (m_thread.joinable())
        m_thread.join();
}

bool Inspector::watching(const std::string& listener, const std::string& path) const {
    if (!m_settings.enabled)
        return false;
    return !(listener == "api" && path.rfind(k_prefix, 0) == 0);
}

std::size_t Inspector::capture_limit() const {
    return std::max<std::size_t>(m_settings.max_body_bytes, std::size_t{1} << 20);
}

void Inspector::attach(const std::string& listener, server::Engine& engine) {
    std::lock_guard lock(m_mutex);
    m_engines[listener] = &engine;
}

void Inspector::set_api_origin(std::string origin) {
    std::lock_guard lock(m_mutex);
    m_api_origin = std::move(origin);
}

void Inspector::record(const std::string& listener, server::Exchange& ex) {
    if (!m_settings.enabled || !watching(listener, ex.request.path.empty() ? ex.head.target : ex.request.path))
        return;
    auto p = std::make_unique<Pending>();
    p->resend = t_resend_promise;
    t_resend_promise = nullptr;
    std::shared_ptr<Capture> cap = ex.capture;
    if (!cap) {
        // Answered before any phase ran (refused, a CONNECT, an on_head answer): no value
        // was revealed; the head as parsed and the answer.
        cap = std::make_shared<Capture>(capture_limit());
        if (!ex.head.method.empty()) {
            cap->client_request.present = true;
            cap->client_request.start =
                ex.head.method + " " + ex.head.target + " HTTP/1." + std::to_string(ex.head.version_minor);
            cap->client_request.headers = ex.head.headers;
            if (ex.head.body != http::BodyKind::none)
                cap->client_request.withheld = "not read: the answer came before the body";
        }
    }
    {
        Message& m = cap->client_response;
        std::lock_guard lock(cap->mutex);
        m.present = true;
        m.start = "HTTP/1.1 " + std::to_string(ex.response.status) + " " + reason_of(ex.response.status);
        m.headers = ex.response.headers;
    }
    if (!cap->client_response_streamed)
        cap->keep(cap->client_response, ex.response.body);
    Facts& f = p->facts;
    const server::AccessEntry& e = ex.entry;
    f.listener = listener;
    f.dialect = e.dialect;
    f.method = e.method.empty() ? ex.head.method : e.method;
    f.path = e.path.empty() ? ex.request.path : e.path;
    f.upstream_host = e.upstream_host;
    f.route = e.route;
    f.error_code = e.error_code;
    f.principal = e.principal;
    f.access_reason = e.access_reason;
    f.status = ex.response.status;
    f.duration_ms = e.duration_ms;
    f.tokens = e.tokens;
    f.revealed = e.revealed;
    f.redacted = e.redacted;
    f.time_ms = now_ms();
    if (ex.tunnel) {
        f.tunnel_host = ex.tunnel->host;
        f.tunnel_port = ex.tunnel->port;
        f.tunnel_tls = ex.tunnel->tls;
        f.tunnel_principal = ex.tunnel->principal;
    }
    p->capture = std::move(cap);
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping) {
            if (p->resend)
                p->resend->set_value(0);
            return;
        }
        m_queue.push_back(std::move(p));
    }
    m_wake.notify_one();
}

void Inspector::run() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_wake.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
        if (m_queue.empty() && m_stopping)
            break;
        auto p = std::move(m_queue.front());
        m_queue.pop_front();
        ++m_busy;
        lock.unlock();
        std::uint64_t id = 0;
        try {
            Record r = make_record(*p->capture, p->facts, m_settings.max_body_bytes);
            p->capture.reset(); // the values go with it
            m_latency.add(r.dialect, r.time_ms, r.duration_ms);
            id = m_ring.push(std::move(r));
        } catch (const std::exception&) {
        }
        if (p->resend)
            p->resend->set_value(id);
        lock.lock();
        --m_busy;
        m_recorded.notify_all();
    }
    for (auto& p : m_queue)
        if (p->resend)
            p->resend->set_value(0);
    m_queue.clear();
}

void Inspector::flush() {
    std::unique_lock lock(m_mutex);
    m_recorded.wait(lock, [this] { return m_stopping || (m_queue.empty() && m_busy == 0); });
}

// ---- the API ----------------------------------------------------------------------------------

namespace {

http::Response json_answer(int status, const json& body) {
    http::Response res;
    res.status = status;
    res.headers.push_back({"content-type", "application/json"});
    res.headers.push_back({"cache-control", "no-store"});
    res.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    return res;
}

http::Response error(int status, const std::string& code, const std::string& message) {
    http::Response res = json_answer(status, json{{"error", {{"code", code}, {"message", message}}}});
    res.headers.push_back({"x-vaultfwd-error", code});
    return res;
}

std::map<std::string, std::string> query_of(const std::string& query) {
    std::map<std::string, std::string> out;
    for (const auto& part : util::split(query, '&')) {
        if (part.empty())
            continue;
        auto eq = part.find('=');
        std::string key = part.substr(0, eq);
        std::string raw = eq == std::string::npos ? "" : part.substr(eq + 1);
        std::replace(raw.begin(), raw.end(), '+', ' ');
        out[key] = util::percent_decode(raw).value_or(raw);
    }
    return out;
}

bool same(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The filters of the table and the export: dialect, status ("2xx", "404", "error"), host part.
struct Filter {
    std::string dialect, status, host;
    std::string check() const {
        if (status.empty() || status == "error")
            return {};
        if (status.size() == 3 && std::isdigit(static_cast<unsigned char>(status[0])) &&
            (status.substr(1) == "xx" ||
             std::all_of(status.begin(), status.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })))
            return {};
        return "status filter \"" + status + "\" must be a code (404), a class (4xx) or \"error\"";
    }
    bool operator()(const Record& r) const {
        if (!dialect.empty() && r.dialect != dialect)
            return false;
        if (!host.empty() && r.host.find(host) == std::string::npos)
            return false;
        if (status == "error")
            return !r.error_code.empty();
        if (status.size() == 3 && status.substr(1) == "xx")
            return r.status / 100 == status[0] - '0';
        if (!status.empty())
            return std::to_string(r.status) == status;
        return true;
    }
};

Filter filter_of(const std::map<std::string, std::string>& q) {
    Filter f;
    if (auto it = q.find("dialect"); it != q.end())
        f.dialect = it->second;
    if (auto it = q.find("status"); it != q.end())
        f.status = it->second;
    if (auto it = q.find("host"); it != q.end())
        f.host = it->second;
    return f;
}

std::optional<std::uint64_t> id_of(const std::string& text) {
    if (text.empty() || text.size() > 18 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return std::nullopt;
    return std::stoull(text);
}

} // namespace

// The live rows: server-sent events, one "exchange" event per record, a comment each second so
// that a page gone is noticed and serve's stop is not held up.
class EventStream final : public http::BodySource {
  public:
    EventStream(Inspector& inspector, std::uint64_t after, Filter filter)
        : m_inspector(inspector), m_after(after), m_filter(std::move(filter)) {}
    ~EventStream() override { --m_inspector.m_pages; }

    Step next(std::string& out) override {
        {
            std::unique_lock lock(m_inspector.m_mutex);
            m_inspector.m_recorded.wait_for(lock, std::chrono::seconds(1), [this] {
                return m_inspector.m_stopping || m_inspector.m_ring.last_id() > m_after;
            });
            if (m_inspector.m_stopping)
                return Step::end;
        }
        auto fresh = m_inspector.m_ring.since(m_after);
        if (fresh.empty()) {
            out += ": keep-alive\n\n";
            return Step::piece;
        }
        m_after = fresh.back()->id;
        for (const auto& r : fresh)
            if (m_filter(*r))
                out += "id: " + std::to_string(r->id) + "\nevent: exchange\ndata: " +
                       row_json(*r).dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
        if (out.empty())
            out += ": keep-alive\n\n";
        return Step::piece;
    }
    std::optional<std::uint64_t> length() const override { return std::nullopt; }
    const std::string& error_code() const override { return m_none; }
    const std::string& error_message() const override { return m_none; }

  private:
    Inspector& m_inspector;
    std::uint64_t m_after;
    Filter m_filter;
    std::string m_none;
};

http::Response Inspector::handle(const http::Request& req) {
    try {
        if (!m_settings.enabled)
            return error(404, "inspector.disabled",
                         "the inspector is off: start serve with --inspector or set [inspector] enabled = true "
                         "in the profile");
        const auto q = query_of(req.query);
        // Who may look: an API key of this port (Basic or Bearer), or the token serve printed.
        std::string authorization = http::find(req.headers, "authorization").value_or("");
        bool allowed = !authorization.empty() && server::authenticate_api_key(m_profile.api_keys, authorization);
        std::string presented;
        if (authorization.rfind("Bearer ", 0) == 0)
            presented = util::trim(authorization.substr(7));
        else if (auto it = q.find("token"); it != q.end())
            presented = it->second;
        if (!allowed && !presented.empty())
            allowed = same(presented, m_token) ||
                      server::authenticate_api_key(m_profile.api_keys, "Bearer " + presented) != nullptr;
        if (!allowed) {
            http::Response res =
                error(401, "inspector.unauthorized",
                      "the inspector needs an API key of this port (-u KEY: or 'Authorization: Bearer KEY') or the "
                      "token serve printed at start (open the inspector URL it printed)");
            res.headers.push_back({"www-authenticate", "Bearer realm=\"vaultfwd inspector\""});
            return res;
        }
        std::string sub = req.path.substr(std::string_view(k_prefix).size());
        if (sub.empty()) { // relative links of the page resolve under /_inspector/
            http::Response res;
            res.status = 308;
            res.headers.push_back({"location", std::string(k_prefix) + "/" + (req.query.empty() ? "" : "?" + req.query)});
            return res;
        }
        if (sub == "/") {
            if (req.method != "GET" && req.method != "HEAD")
                return error(405, "request.method_not_allowed", "the inspector page answers GET");
            http::Response res;
            res.headers.push_back({"content-type", "text/html; charset=utf-8"});
            res.headers.push_back({"cache-control", "no-store"});
            res.headers.push_back({"content-security-policy",
                                   "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                                   "img-src 'self' data:; connect-src 'self'"});
            res.headers.push_back({"referrer-policy", "no-referrer"});
            res.body = k_inspector_page;
            return res;
        }
        if (sub.rfind("/api/", 0) == 0)
            return api(req, sub.substr(4));
        return error(404, "inspector.not_found",
                     "no inspector resource at " + std::string(k_prefix) + util::redact(sub.substr(0, 100)) +
                         ": the page is " + k_prefix + "/, the API under " + k_prefix + "/api/");
    } catch (const std::exception&) {
        return error(500, "server.internal", "something went wrong");
    }
}

http::Response Inspector::api(const http::Request& req, const std::string& sub) {
    const auto q = query_of(req.query);
    auto method_is = [&](const char* m) { return req.method == m; };
    auto wrong_method = [&](const char* allowed) {
        return error(405, "request.method_not_allowed",
                     std::string(k_prefix) + "/api" + sub + " answers " + allowed + ", not " + req.method);
    };
    if (sub == "/exchanges") {
        if (!method_is("GET"))
            return wrong_method("GET");
        Filter f = filter_of(q);
        if (auto problem = f.check(); !problem.empty())
            return error(400, "inspector.bad_filter", problem);
        std::uint64_t after = 0;
        if (auto it = q.find("after"); it != q.end()) {
            auto id = id_of(it->second);
            if (!id)
                return error(400, "inspector.bad_query", "after must be an exchange id (a whole number)");
            after = *id;
        }
        json rows = json::array();
        for (const auto& r : m_ring.since(after, f))
            rows.push_back(row_json(*r));
        return json_answer(200, json{{"exchanges", rows}, {"last_id", m_ring.last_id()},
                                     {"capacity", m_settings.exchanges}});
    }
    if (sub == "/events") {
        if (!method_is("GET"))
            return wrong_method("GET");
        Filter f = filter_of(q);
        if (auto problem = f.check(); !problem.empty())
            return error(400, "inspector.bad_filter", problem);
        std::uint64_t after = m_ring.last_id();
        if (auto it = q.find("after"); it != q.end()) {
            auto id = id_of(it->second);
            if (!id)
                return error(400, "inspector.bad_query", "after must be an exchange id (a whole number)");
            after = *id;
        }
        if (++m_pages > m_settings.max_pages) {
            --m_pages;
            return error(429, "inspector.too_many_pages",
                         "already " + std::to_string(m_settings.max_pages) +
                             " live inspector pages are open: close one (each holds one of serve's workers)");
        }
        http::Response res;
        res.headers.push_back({"content-type", "text/event-stream"});
        res.headers.push_back({"cache-control", "no-store"});
        res.stream = std::make_shared<EventStream>(*this, after, std::move(f));
        return res;
    }
    if (sub == "/stats") {
        if (!method_is("GET"))
            return wrong_method("GET");
        return json_answer(200, m_latency.json(now_ms()));
    }
    if (sub == "/har") {
        if (!method_is("GET"))
            return wrong_method("GET");
        Filter f = filter_of(q);
        if (auto problem = f.check(); !problem.empty())
            return error(400, "inspector.bad_filter", problem);
        auto rows = m_ring.since(0, f);
        std::vector<const Record*> records;
        for (const auto& r : rows)
            records.push_back(r.get());
        std::string origin;
        {
            std::lock_guard lock(m_mutex);
            origin = m_api_origin;
        }
        http::Response res = json_answer(200, har(records, origin));
        res.headers.push_back({"content-disposition", "attachment; filename=\"vaultfwd-inspector.har\""});
        return res;
    }
    const std::string base = "/exchanges/";
    if (sub.rfind(base, 0) == 0) {
        std::string rest = sub.substr(base.size());
        std::string action;
        if (auto slash = rest.find('/'); slash != std::string::npos) {
            action = rest.substr(slash + 1);
            rest = rest.substr(0, slash);
        }
        auto id = id_of(rest);
        if (!id)
            return error(400, "inspector.bad_id", "an exchange id is a whole number (got \"" +
                                                      util::redact(rest.substr(0, 40)) + "\")");
        auto record = m_ring.find(*id);
        if (!record)
            return error(404, "inspector.unknown_exchange",
                         "exchange " + std::to_string(*id) + " is not kept (the inspector keeps the last " +
                             std::to_string(m_settings.exchanges) + ", see inspector.exchanges)");
        if (action.empty()) {
            if (!method_is("GET"))
                return wrong_method("GET");
            return json_answer(200, detail_json(*record));
        }
        if (action == "route") {
            if (!method_is("POST"))
                return wrong_method("POST");
            return make_route_answer(req);
        }
        if (action == "resend") {
            if (!method_is("POST"))
                return wrong_method("POST");
            return resend(*id);
        }
        return error(404, "inspector.not_found", "an exchange has no \"" + util::redact(action.substr(0, 40)) +
                                                     "\": use /route or /resend");
    }
    return error(404, "inspector.not_found",
                 "no inspector API at " + std::string(k_prefix) + "/api" + util::redact(sub.substr(0, 100)) +
                     ": use exchanges, exchanges/{id}, events, stats or har");
}

http::Response Inspector::make_route_answer(const http::Request& req) {
    // /exchanges/{id}/route: the id was checked by api().
    std::string rest = req.path.substr(std::string(k_prefix).size() + std::string("/api/exchanges/").size());
    auto record = m_ring.find(std::stoull(rest.substr(0, rest.find('/'))));
    if (!record)
        return error(404, "inspector.unknown_exchange", "the exchange is no longer kept");
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
        return error(400, "inspector.bad_route_request",
                     "the body must be a JSON object: {\"phase\", \"operation\", \"format\", \"json\": [..], "
                     "\"form\": [..], \"headers\": [..], \"id\", \"add\"}");
    RouteSpec spec;
    auto text = [&](const char* key, std::string& into) -> std::optional<std::string> {
        if (!body.contains(key))
            return std::nullopt;
        if (!body[key].is_string())
            return std::string(key) + " must be a string";
        into = body[key].get<std::string>();
        return std::nullopt;
    };
    auto list = [&](const char* key, std::vector<std::string>& into) -> std::optional<std::string> {
        if (!body.contains(key))
            return std::nullopt;
        if (!body[key].is_array())
            return std::string(key) + " must be an array of strings";
        for (const auto& v : body[key]) {
            if (!v.is_string() || v.get<std::string>().empty())
                return std::string(key) + " must be an array of non-empty strings";
            into.push_back(v.get<std::string>());
        }
        return std::nullopt;
    };
    for (auto problem : {text("phase", spec.phase), text("operation", spec.operation), text("format", spec.format),
                         text("id", spec.id), list("json", spec.json_paths), list("form", spec.form_fields),
                         list("headers", spec.headers)})
        if (problem)
            return error(400, "inspector.bad_route_request", *problem);
    if (body.contains("add") && !body["add"].is_boolean())
        return error(400, "inspector.bad_route_request", "add must be true or false");
    bool add = body.value("add", false);
    auto route = make_route(*record, spec);
    if (!route)
        return error(400, route.error().code, route.error().message);
    json out{{"toml", route_text(*route)}, {"added", false}};
    if (add) {
        auto written = profile::append_tables(m_profile.file, "routes", {*route});
        if (!written)
            return error(409, "inspector.profile_refused",
                         "the route was not added to " + m_profile.file.string() + ": " + written.error().describe());
        out["added"] = true;
        out["profile"] = m_profile.file.string();
        out["note"] = "added to the profile; restart serve to load it";
    }
    return json_answer(200, out);
}

http::Response Inspector::resend(std::uint64_t id) {
    auto record = m_ring.find(id);
    if (!record)
        return error(404, "inspector.unknown_exchange", "the exchange is no longer kept");
    const ResendInfo& info = record->resend;
    if (info.method.empty() || info.target.empty())
        return error(409, "inspector.cannot_resend",
                     "exchange " + std::to_string(id) + " has no request line to send again (the client's request was refused unread)");
    if (!info.body_kept)
        return error(409, "inspector.cannot_resend",
                     "exchange " + std::to_string(id) + "'s request body was not kept (" +
                         (record->client_request.note.empty() ? std::string("withheld") : record->client_request.note) +
                         "): it cannot be sent again");
    if (info.method == "CONNECT")
        return error(409, "inspector.cannot_resend", "a CONNECT opens a tunnel: re-send the requests made inside it");
    server::Engine* engine = nullptr;
    {
        std::lock_guard lock(m_mutex);
        if (auto it = m_engines.find(record->listener); it != m_engines.end())
            engine = it->second;
    }
    if (!engine)
        return error(409, "inspector.cannot_resend", "the " + record->listener + " listener is not running");
    auto ex = std::make_shared<server::Exchange>();
    ex->head.method = info.method;
    ex->head.target = info.target;
    ex->head.version_minor = 1;
    for (const auto& h : info.headers) {
        std::string lower = util::to_lower(h.name);
        if (lower == "content-length" || lower == "transfer-encoding" || lower == "expect")
            continue;
        ex->head.headers.push_back(h);
    }
    if (!info.body.empty()) {
        ex->head.headers.push_back({"Content-Length", std::to_string(info.body.size())});
        ex->head.body = http::BodyKind::length;
        ex->head.content_length = info.body.size();
    }
    ex->request.method = info.method;
    std::string target = info.target;
    if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
        auto slash = target.find('/', target.find("://") + 3);
        target = slash == std::string::npos ? "/" : target.substr(slash);
    }
    auto qm = target.find('?');
    ex->request.path = target.substr(0, qm);
    ex->request.query = qm == std::string::npos ? "" : target.substr(qm + 1);
    ex->request.headers = ex->head.headers;
    ex->request.body = info.body;
    ex->request.remote_addr = "inspector";
    if (!info.tunnel_host.empty())
        ex->tunnel = server::Tunnel{info.tunnel_host, info.tunnel_port, info.tunnel_tls, info.tunnel_principal};
    std::promise<std::uint64_t> recorded;
    auto new_id = recorded.get_future();
    t_resend_promise = &recorded;
    http::Response answer = engine->exchange(ex);
    const bool was_recorded = t_resend_promise == nullptr;
    t_resend_promise = nullptr;
    std::uint64_t fresh = was_recorded ? new_id.get() : 0;
    json out{{"status", answer.status}, {"id", fresh}};
    if (auto code = http::find(answer.headers, "x-vaultfwd-error"))
        out["error_code"] = *code;
    return json_answer(200, out);
}

} // namespace vaultfwd::inspector
