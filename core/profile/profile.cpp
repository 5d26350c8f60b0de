// SPDX-License-Identifier: Apache-2.0
#include "core/profile/profile.hpp"
#include "core/profile/source.hpp"

#include <algorithm>
#include <set>
#include <toml++/toml.h>

#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::profile {

namespace fs = std::filesystem;

namespace {

// Reads one TOML table against the keys it may hold, collecting every problem with its position.
class Reader {
  public:
    // `where` is the key path of this table in the source map ("routes[0]."); `prefix` the
    // name used in messages ("routes.").
    Reader(const toml::table& table, std::string prefix, std::vector<Error>& errors,
           SourceMap& map, std::string where = "")
        : m_table(table), m_prefix(std::move(prefix)), m_errors(errors), m_map(map),
          m_where(std::move(where)) {}

    ~Reader() {
        for (auto&& [key, node] : m_table) {
            std::string k(key.str());
            if (m_known.count(k))
                continue;
            std::string msg = "unknown key \"" + m_prefix + k + "\"";
            auto suggestion = util::nearest(k, {m_known.begin(), m_known.end()});
            if (!suggestion.empty())
                msg += " (did you mean \"" + m_prefix + suggestion + "\"?)";
            else if (!m_known.empty())
                msg += " (valid keys here: " + util::join({m_known.begin(), m_known.end()}, ", ") + ")";
            add(key.source(), "profile.unknown_key", msg);
        }
    }

    void string(const char* key, std::string& out) {
        if (auto* n = take(key)) {
            if (auto v = n->value<std::string>())
                out = *v;
            else
                type_error(*n, key, "a string");
        }
    }
    void boolean(const char* key, bool& out) {
        if (auto* n = take(key)) {
            if (n->is_boolean())
                out = *n->value<bool>();
            else
                type_error(*n, key, "true or false");
        }
    }
    template <class Int> void integer(const char* key, Int& out, long long min, long long max) {
        if (auto* n = take(key)) {
            if (!n->is_integer()) {
                type_error(*n, key, "an integer");
                return;
            }
            auto v = *n->value<long long>();
            if (v < min || v > max)
                add(n->source(), "profile.bad_value",
                    m_prefix + key + " must be between " + std::to_string(min) + " and " +
                        std::to_string(max));
            else
                out = static_cast<Int>(v);
        }
    }
    void strings(const char* key, std::vector<std::string>& out) {
        if (auto* n = take(key)) {
            auto* arr = n->as_array();
            if (!arr) {
                type_error(*n, key, "an array of strings");
                return;
            }
            out.clear();
            for (auto& item : *arr) {
                mark(std::string(key) + "[" + std::to_string(out.size()) + "]", item);
                if (auto v = item.value<std::string>())
                    out.push_back(*v);
                else
                    type_error(item, key, "an array of strings");
            }
        }
    }
    void string_map(const char* key, std::map<std::string, std::string>& out) {
        if (auto* n = take(key)) {
            auto* t = n->as_table();
            if (!t) {
                type_error(*n, key, "a table of strings");
                return;
            }
            for (auto&& [k, v] : *t) {
                if (auto s = v.value<std::string>())
                    out[std::string(k.str())] = *s;
                else
                    type_error(v, key, "a table of strings");
            }
        }
    }
    const toml::table* table(const char* key) {
        if (auto* n = take(key)) {
            if (auto* t = n->as_table())
                return t;
            type_error(*n, key, "a table");
        }
        return nullptr;
    }
    // Every entry of an array of tables ([[key]]).
    std::vector<const toml::table*> tables(const char* key) {
        std::vector<const toml::table*> out;
        if (auto* n = take(key)) {
            auto* arr = n->as_array();
            if (!arr) {
                type_error(*n, key, "an array of tables ([[" + m_prefix + key + "]])");
                return out;
            }
            for (auto& item : *arr) {
                mark(std::string(key) + "[" + std::to_string(out.size()) + "]", item);
                if (auto* t = item.as_table())
                    out.push_back(t);
                else
                    type_error(item, key, "an array of tables ([[" + m_prefix + key + "]])");
            }
        }
        return out;
    }
    void require(const char* key, const std::string& value) {
        if (value.empty())
            add(m_table.source(), "profile.missing_key",
                m_prefix + key + " is required in this table");
    }
    void add_at(SourceMap::Pos at, const std::string& code, const std::string& msg) {
        m_errors.push_back(make_error(code, msg, at.line, at.column));
    }
    void add(const toml::source_region& at, const std::string& code, const std::string& msg) {
        m_errors.push_back(make_error(code, msg, static_cast<int>(at.begin.line),
                                      static_cast<int>(at.begin.column)));
    }
    const toml::table& node() const { return m_table; }
    SourceMap& map() const { return m_map; }
    const std::string& where() const { return m_where; }

  private:
    void mark(const std::string& key, const toml::node& n) {
        m_map.set(m_where + key, {static_cast<int>(n.source().begin.line),
                                  static_cast<int>(n.source().begin.column)});
    }
    const toml::node* take(const char* key) {
        m_known.insert(key);
        const toml::node* n = m_table.get(key);
        if (n)
            mark(key, *n);
        return n;
    }
    void type_error(const toml::node& n, const std::string& key, const std::string& want) {
        add(n.source(), "profile.wrong_type", m_prefix + key + " must be " + want);
    }

    const toml::table& m_table;
    std::string m_prefix;
    std::vector<Error>& m_errors;
    SourceMap& m_map;
    std::string m_where;
    std::set<std::string> m_known;
};

void check_one_of(Reader& r, const std::string& what, const std::string& value,
                  const std::vector<std::string>& allowed) {
    for (const auto& a : allowed)
        if (a == value)
            return;
    r.add(r.node().source(), "profile.bad_value",
          what + " must be one of " + util::join(allowed, ", ") + " (got \"" + value + "\")");
}

// Ids must be unique within their array; a second definition points at the first.
void check_unique(Reader& r, const std::string& what, std::map<std::string, int>& seen,
                  const std::string& id, const char* key = "id") {
    if (id.empty())
        return;
    const auto at = r.map().at(r.where() + key);
    auto [it, fresh] = seen.emplace(id, at.line);
    if (!fresh)
        r.add_at(at, "profile.duplicate",
                 what + " \"" + id + "\" is defined twice (first at line " +
                     std::to_string(it->second) + ")");
}

void read_all(const toml::table& root, Profile& p, std::vector<Error>& errors, SourceMap& map) {
    Reader top(root, "", errors, map);
    if (auto* t = top.table("listen")) {
        Reader r(*t, "listen.", errors, map, "listen.");
        r.string("api", p.listen.api);
        r.string("proxy", p.listen.proxy);
        r.boolean("proxy_tls", p.listen.proxy_tls);
        r.string("inbound", p.listen.inbound);
        r.boolean("inbound_tls", p.listen.inbound_tls);
    }
    if (auto* t = top.table("vault")) {
        Reader r(*t, "vault.", errors, map, "vault.");
        r.string("key", p.vault.key_hex);
        r.string("alias_env", p.vault.alias_env);
        auto raw = util::from_hex(p.vault.key_hex);
        if (!raw || raw->size() != 32)
            r.add(t->source(), "profile.bad_value",
                  "vault.key must be 64 hex characters (run 'vaultfwd init' to generate one)");
    } else {
        top.add(root.source(), "profile.missing_key",
                "the [vault] table with its key is missing (run 'vaultfwd init')");
    }
    if (auto* t = top.table("ca")) {
        Reader r(*t, "ca.", errors, map, "ca.");
        r.string("cert", p.ca.cert);
        r.string("key", p.ca.key);
    }
    if (auto* t = top.table("upstream")) {
        Reader r(*t, "upstream.", errors, map, "upstream.");
        r.strings("allow", p.upstream.allow);
        r.strings("allow_http", p.upstream.allow_http);
        r.strings("ca_files", p.upstream.ca_files);
        r.integer("connect_timeout_ms", p.upstream.connect_timeout_ms, 1, 600000);
        r.integer("timeout_ms", p.upstream.timeout_ms, 1, 600000);
    }
    if (auto* t = top.table("limits")) {
        Reader r(*t, "limits.", errors, map, "limits.");
        r.integer("max_body_bytes", p.limits.max_body_bytes, 1, 1LL << 32);
        r.integer("max_header_bytes", p.limits.max_header_bytes, 1024, 1 << 24);
        r.integer("threads", p.limits.threads, 2, 1024);
    }
    if (auto* t = top.table("inspector")) {
        Reader r(*t, "inspector.", errors, map, "inspector.");
        r.boolean("enabled", p.inspector.enabled);
        r.integer("exchanges", p.inspector.exchanges, 1, 100000);
        r.integer("max_body_bytes", p.inspector.max_body_bytes, 256, 1 << 24);
    }
    if (auto* t = top.table("log")) {
        Reader r(*t, "log.", errors, map, "log.");
        r.string("access_log", p.log.access_log);
    }
    std::map<std::string, int> ids;
    const auto api_keys_tables = top.tables("api_keys");
    for (std::size_t i = 0; i < api_keys_tables.size(); ++i) {
        const toml::table* t = api_keys_tables[i];
        Reader r(*t, "api_keys.", errors, map, "api_keys[" + std::to_string(i) + "].");
        ApiKey k;
        r.string("id", k.id);
        r.string("key", k.key);
        r.strings("reveal", k.reveal);
        r.require("id", k.id);
        r.require("key", k.key);
        check_unique(r, "api key", ids, k.id);
        p.api_keys.push_back(std::move(k));
    }
    ids.clear();
    const auto proxy_credentials_tables = top.tables("proxy_credentials");
    for (std::size_t i = 0; i < proxy_credentials_tables.size(); ++i) {
        const toml::table* t = proxy_credentials_tables[i];
        Reader r(*t, "proxy_credentials.", errors, map, "proxy_credentials[" + std::to_string(i) + "].");
        ProxyCredential c;
        r.string("id", c.id);
        r.string("username", c.username);
        r.string("password", c.password);
        r.string("client_cert", c.client_cert);
        r.require("id", c.id);
        r.require("username", c.username);
        r.require("password", c.password);
        check_unique(r, "proxy credential", ids, c.id);
        p.proxy_credentials.push_back(std::move(c));
    }
    ids.clear();
    const auto certs_tables = top.tables("certs");
    for (std::size_t i = 0; i < certs_tables.size(); ++i) {
        const toml::table* t = certs_tables[i];
        Reader r(*t, "certs.", errors, map, "certs[" + std::to_string(i) + "].");
        CertEntry c;
        c.line = static_cast<int>(t->source().begin.line);
        r.string("name", c.name);
        r.string("direction", c.direction);
        r.string("credential", c.credential);
        r.string("route", c.route);
        r.string("proxy", c.proxy);
        r.string("gr4vy_endpoint", c.gr4vy_endpoint);
        r.string("description", c.description);
        r.string("cert", c.cert);
        r.string("key", c.key);
        r.require("name", c.name);
        r.require("cert", c.cert);
        check_one_of(r, "certs.direction", c.direction, {"outbound", "inbound"});
        r.require("key", c.key);
        if (c.direction == "inbound" && c.route.empty())
            r.add(t->source(), "profile.missing_key",
                  "certs.route is required for an inbound certificate: it is presented to that inbound "
                  "route's upstream");
        check_unique(r, "certificate", ids, c.name, "name");
        p.certs.push_back(std::move(c));
    }
    ids.clear();
    const auto pins_tables = top.tables("pins");
    for (std::size_t i = 0; i < pins_tables.size(); ++i) {
        const toml::table* t = pins_tables[i];
        Reader r(*t, "pins.", errors, map, "pins[" + std::to_string(i) + "].");
        PinEntry pin;
        pin.line = static_cast<int>(t->source().begin.line);
        r.string("name", pin.name);
        r.string("description", pin.description);
        r.string("cert", pin.cert);
        r.string("scope", pin.scope);
        r.require("name", pin.name);
        r.require("cert", pin.cert);
        check_unique(r, "pin", ids, pin.name, "name");
        p.pins.push_back(std::move(pin));
    }
    ids.clear();
    const auto footprint_proxies_tables = top.tables("footprint_proxies");
    for (std::size_t i = 0; i < footprint_proxies_tables.size(); ++i) {
        const toml::table* t = footprint_proxies_tables[i];
        Reader r(*t, "footprint_proxies.", errors, map, "footprint_proxies[" + std::to_string(i) + "].");
        FootprintProxy fp;
        r.string("id", fp.id);
        r.string("url", fp.url);
        r.string("method", fp.method);
        r.boolean("enabled", fp.enabled);
        r.string("access_reason", fp.access_reason);
        r.string_map("headers", fp.headers);
        r.string("client_cert", fp.client_cert);
        r.strings("pins", fp.pins);
        r.string("ingress_content_type", fp.ingress_content_type);
        r.strings("ingress_rules", fp.ingress_rules);
        r.require("id", fp.id);
        r.require("url", fp.url);
        check_unique(r, "footprint proxy", ids, fp.id);
        p.footprint_proxies.push_back(std::move(fp));
    }
    ids.clear();
    const auto gr4vy_endpoints_tables = top.tables("gr4vy_endpoints");
    for (std::size_t i = 0; i < gr4vy_endpoints_tables.size(); ++i) {
        const toml::table* t = gr4vy_endpoints_tables[i];
        Reader r(*t, "gr4vy_endpoints.", errors, map, "gr4vy_endpoints[" + std::to_string(i) + "].");
        Gr4vyEndpoint ep;
        ep.line = static_cast<int>(t->source().begin.line);
        r.string("id", ep.id);
        r.string("host", ep.host);
        r.string("path", ep.path);
        r.string("client_cert", ep.client_cert);
        r.require("id", ep.id);
        r.require("host", ep.host);
        if (ep.host.find_first_of("/?#@ ") != std::string::npos || ep.host.find("://") != std::string::npos)
            r.add_at(map.at(r.where() + "host"), "profile.bad_value",
                     "gr4vy_endpoints.host \"" + ep.host + "\" must be a host name, optionally with :port "
                     "(the path goes in gr4vy_endpoints.path)");
        if (!ep.path.empty() && ep.path.front() != '/')
            r.add_at(map.at(r.where() + "path"), "profile.bad_value",
                     "gr4vy_endpoints.path \"" + ep.path + "\" must start with '/'");
        check_unique(r, "gr4vy endpoint", ids, ep.id);
        p.gr4vy_endpoints.push_back(std::move(ep));
    }
    ids.clear();
    const auto routes_tables = top.tables("routes");
    for (std::size_t i = 0; i < routes_tables.size(); ++i) {
        const toml::table* t = routes_tables[i];
        Reader r(*t, "routes.", errors, map, "routes[" + std::to_string(i) + "].");
        Route route;
        r.string("id", route.id);
        r.string("description", route.description);
        r.string("direction", route.direction);
        r.string("upstream", route.upstream);
        r.string("host", route.host);
        r.string("path", route.path);
        r.strings("methods", route.methods);
        r.require("id", route.id);
        check_one_of(r, "routes.direction", route.direction, {"outbound", "inbound"});
        if (route.direction == "inbound")
            r.require("upstream", route.upstream);
        else if (!route.upstream.empty())
            r.add_at(map.at(r.where() + "upstream"), "profile.bad_value",
                     "routes.upstream is for inbound routes (direction = \"inbound\"); an outbound route "
                     "goes to the host the client dialed");
        check_unique(r, "route", ids, route.id);
        const auto filter_tables = r.tables("filters");
        for (std::size_t fi = 0; fi < filter_tables.size(); ++fi) {
            const toml::table* ft = filter_tables[fi];
            Reader fr(*ft, "routes.filters.", errors, map,
                      "routes[" + std::to_string(i) + "].filters[" + std::to_string(fi) + "].");
            RouteFilter f;
            fr.string("id", f.id);
            fr.string("phase", f.phase);
            fr.string("operation", f.operation);
            fr.string("transformer", f.transformer);
            fr.strings("targets", f.targets);
            fr.string("pattern", f.pattern);
            fr.string("replacement", f.replacement);
            fr.string("format", f.format);
            fr.string("on_unknown_alias", f.on_unknown_alias);
            fr.string("path", f.path);
            fr.strings("methods", f.methods);
            fr.string("content_type", f.content_type);
            fr.string("status", f.status);
            check_one_of(fr, "routes.filters.phase", f.phase, {"request", "response"});
            check_one_of(fr, "routes.filters.operation", f.operation, {"reveal", "redact"});
            check_one_of(fr, "routes.filters.transformer", f.transformer,
                         {"json_path", "form_field", "regex", "header"});
            check_one_of(fr, "routes.filters.on_unknown_alias", f.on_unknown_alias,
                         {"fail", "pass"});
            check_one_of(fr, "routes.filters.format", f.format,
                         {"UUID", "RAW_UUID", "NUM_LENGTH_PRESERVING", "FPE_SIX_T_FOUR",
                          "FPE_T_FOUR", "PFPT", "NON_LUHN_FPE_ALPHANUMERIC"});
            if (!f.status.empty() && f.phase != "response")
                fr.add_at(map.at(fr.where() + "status"), "profile.bad_value",
                          "routes.filters.status is a condition on the upstream's answer: it needs "
                          "phase = \"response\"");
            if (f.transformer == "regex")
                fr.require("pattern", f.pattern);
            else if (f.targets.empty())
                fr.add(ft->source(), "profile.missing_key",
                       "routes.filters.targets is required for the " + f.transformer +
                           " transformer");
            route.filters.push_back(std::move(f));
        }
        p.routes.push_back(std::move(route));
    }
    // Cross references: names used must exist, reported at the value that names them.
    std::set<std::string> cert_names, pin_names;
    for (const auto& c : p.certs)
        cert_names.insert(c.name);
    for (const auto& pin : p.pins)
        pin_names.insert(pin.name);
    auto dangling = [&](const std::string& key, const std::string& msg) {
        const auto at = map.at(key);
        errors.push_back(make_error("profile.bad_reference", msg, at.line, at.column));
    };
    for (std::size_t i = 0; i < p.proxy_credentials.size(); ++i) {
        const auto& c = p.proxy_credentials[i];
        if (!c.client_cert.empty() && !cert_names.count(c.client_cert))
            dangling("proxy_credentials[" + std::to_string(i) + "].client_cert",
                     "proxy credential \"" + c.id + "\" names client_cert \"" + c.client_cert +
                         "\", but no [[certs]] entry has that name (add it with 'vaultfwd cert "
                         "add')");
    }
    std::set<std::string> endpoint_ids;
    for (std::size_t i = 0; i < p.gr4vy_endpoints.size(); ++i) {
        const auto& ep = p.gr4vy_endpoints[i];
        endpoint_ids.insert(ep.id);
        const std::string key = "gr4vy_endpoints[" + std::to_string(i) + "].client_cert";
        if (!ep.client_cert.empty() && !cert_names.count(ep.client_cert))
            dangling(key, "gr4vy endpoint \"" + ep.id + "\" names client_cert \"" + ep.client_cert +
                              "\", but no [[certs]] entry has that name (add it with 'vaultfwd cert add')");
        else if (const auto* c = p.find_cert(ep.client_cert); c && c->direction != "outbound") {
            const auto at = map.at(key);
            errors.push_back(make_error("profile.bad_value",
                                        "gr4vy endpoint \"" + ep.id + "\" names client_cert \"" +
                                            ep.client_cert +
                                            "\", an inbound certificate: it needs an outbound one with its key",
                                        at.line, at.column));
        }
    }
    for (std::size_t i = 0; i < p.certs.size(); ++i) {
        const auto& c = p.certs[i];
        if (c.gr4vy_endpoint.empty())
            continue;
        const std::string key = "certs[" + std::to_string(i) + "].gr4vy_endpoint";
        if (!endpoint_ids.count(c.gr4vy_endpoint))
            dangling(key, "certificate \"" + c.name + "\" names gr4vy_endpoint \"" + c.gr4vy_endpoint +
                              "\", but no [[gr4vy_endpoints]] entry has that id");
        else if (c.direction != "outbound") {
            const auto at = map.at(key);
            errors.push_back(make_error("profile.bad_value",
                                        "certificate \"" + c.name + "\" is tied to gr4vy endpoint \"" +
                                            c.gr4vy_endpoint +
                                            "\" and so must be outbound (presented upstream)",
                                        at.line, at.column));
        }
    }
    for (std::size_t i = 0; i < p.certs.size(); ++i) {
        const auto& c = p.certs[i];
        if (c.route.empty())
            continue;
        const auto at = map.at("certs[" + std::to_string(i) + "].route");
        const auto route = std::find_if(p.routes.begin(), p.routes.end(), [&](const Route& r) { return r.id == c.route; });
        if (c.direction != "inbound")
            errors.push_back(make_error("profile.bad_value",
                                        "certificate \"" + c.name + "\" is tied to route \"" + c.route +
                                            "\" and so must be inbound (direction = \"inbound\"): it is presented "
                                            "to that inbound route's upstream",
                                        at.line, at.column));
        else if (route != p.routes.end() && route->direction != "inbound")
            errors.push_back(make_error("profile.bad_value",
                                        "certificate \"" + c.name + "\" is tied to route \"" + c.route +
                                            "\", an outbound route: inbound certificates belong to inbound routes "
                                            "(outbound ones to a proxy credential)",
                                        at.line, at.column));
    }
    for (std::size_t i = 0; i < p.footprint_proxies.size(); ++i) {
        const auto& fp = p.footprint_proxies[i];
        const std::string key = "footprint_proxies[" + std::to_string(i) + "].";
        if (!fp.client_cert.empty() && !cert_names.count(fp.client_cert))
            dangling(key + "client_cert", "footprint proxy \"" + fp.id + "\" names client_cert \"" +
                                              fp.client_cert +
                                              "\", but no [[certs]] entry has that name");
        for (std::size_t k = 0; k < fp.pins.size(); ++k)
            if (!pin_names.count(fp.pins[k]))
                dangling(key + "pins[" + std::to_string(k) + "]",
                         "footprint proxy \"" + fp.id + "\" names pin \"" + fp.pins[k] +
                             "\", but no [[pins]] entry has that name");
    }
}

} // namespace

void SourceMap::set_text(std::string_view text) {
    m_lines = util::split(std::string(text), '\n');
}

SourceMap::Pos SourceMap::at(const std::string& key) const {
    auto it = m_pos.find(key);
    return it == m_pos.end() ? Pos{} : it->second;
}

SourceMap::Pos SourceMap::at(const std::string& key, std::size_t offset) const {
    Pos start = at(key);
    if (start.line < 1 || static_cast<std::size_t>(start.line) > m_lines.size() || start.column < 1)
        return start;
    const std::string& line = m_lines[static_cast<std::size_t>(start.line - 1)];
    std::size_t i = static_cast<std::size_t>(start.column - 1);
    if (i >= line.size() || line.compare(i, 3, "\"\"\"") == 0 || line.compare(i, 3, "'''") == 0)
        return start;
    if (line[i] == '\'') // a literal string: no escapes
        return {start.line, start.column + 1 + static_cast<int>(offset)};
    if (line[i] != '"')
        return start;
    ++i;
    // Walk the basic string, counting decoded bytes, until `offset` of them have gone by.
    std::size_t decoded = 0;
    while (i < line.size() && line[i] != '"' && decoded < offset) {
        if (line[i] != '\\') {
            ++i;
            ++decoded;
            continue;
        }
        const char e = i + 1 < line.size() ? line[i + 1] : '\0';
        if (e == 'u' || e == 'U') {
            const std::size_t n = e == 'u' ? 4 : 8;
            unsigned long cp = 0;
            for (std::size_t k = i + 2; k < i + 2 + n && k < line.size(); ++k)
                cp = cp * 16 + static_cast<unsigned long>(std::isdigit(static_cast<unsigned char>(line[k]))
                                                               ? line[k] - '0'
                                                               : (line[k] | 0x20) - 'a' + 10);
            decoded += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            i += 2 + n;
        } else {
            ++decoded;
            i += 2;
        }
    }
    return {start.line, static_cast<int>(i) + 1};
}

fs::path Profile::resolve(const std::string& p) const {
    fs::path path(p);
    return path.is_absolute() ? path : home / path;
}

fs::path Profile::access_log_path() const {
    return log.access_log.empty() ? data_dir / "access.log" : resolve(log.access_log);
}

std::string Profile::vault_key() const { return util::from_hex(vault.key_hex).value_or(""); }

const CertEntry* Profile::find_cert(const std::string& n) const {
    for (const auto& c : certs)
        if (c.name == n)
            return &c;
    return nullptr;
}

const PinEntry* Profile::find_pin(const std::string& n) const {
    for (const auto& pin : pins)
        if (pin.name == n)
            return &pin;
    return nullptr;
}

fs::path profile_path(const fs::path& home, const std::string& name) {
    return home / (name + ".toml");
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64)
        return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
            return false;
    return true;
}

namespace {
bool parse_into(std::string_view text, const fs::path& file, Profile& p, std::vector<Error>& errors,
                SourceMap& map) {
    toml::table root;
    try {
        root = toml::parse(text, file.string());
    } catch (const toml::parse_error& e) {
        errors.push_back(make_error("profile.syntax", std::string(e.description()),
                                    static_cast<int>(e.source().begin.line),
                                    static_cast<int>(e.source().begin.column)));
        return false;
    }
    map.set_text(text);
    read_all(root, p, errors, map);
    std::stable_sort(errors.begin(), errors.end(), [](const Error& a, const Error& b) {
        int la = a.line ? a.line : 1 << 30, lb = b.line ? b.line : 1 << 30;
        return la != lb ? la < lb : a.column < b.column;
    });
    return errors.empty();
}
} // namespace

std::vector<Error> read(std::string_view text, const fs::path& file, const fs::path& home,
                        const std::string& name, Profile& out, SourceMap& map) {
    out = Profile{};
    out.name = name;
    out.file = file;
    out.home = home;
    out.data_dir = home / name;
    map = SourceMap{};
    std::vector<Error> errors;
    parse_into(text, file, out, errors, map);
    return errors;
}

std::vector<Error> validate(std::string_view text, const fs::path& file) {
    Profile p;
    std::vector<Error> errors;
    SourceMap map;
    parse_into(text, file, p, errors, map);
    return errors;
}

Result<Profile> parse(std::string_view text, const fs::path& file, const fs::path& home,
                      const std::string& name) {
    Profile p;
    p.name = name;
    p.file = file;
    p.home = home;
    p.data_dir = home / name;
    std::vector<Error> errors;
    SourceMap map;
    if (!parse_into(text, file, p, errors, map)) {
        Error e = errors.front();
        if (errors.size() > 1)
            e.message += " (and " + std::to_string(errors.size() - 1) +
                         " more: run 'vaultfwd config check')";
        return e;
    }
    return p;
}

Result<Profile> load(const fs::path& home, const std::string& name) {
    if (!valid_name(name))
        return make_error("profile.bad_name", "profile name \"" + name +
                                                  "\" may only hold letters, digits, '-' and '_'");
    auto path = profile_path(home, name);
    std::error_code ec;
    if (!fs::exists(path, ec))
        return make_error("profile.missing", "profile \"" + name + "\" does not exist at " +
                                                 path.string() + " (run 'vaultfwd init')");
    auto text = util::read_file(path);
    if (!text)
        return text.error();
    return parse(*text, path, home, name);
}

} // namespace vaultfwd::profile
