// SPDX-License-Identifier: Apache-2.0
#include "core/profile/check.hpp"
#include "core/profile/source.hpp"

#include <algorithm>
#include <optional>
#include <arpa/inet.h>

#include "core/dialect/vgs/route_check.hpp"
#include "core/jsonpath/jsonpath.hpp"
#include "core/template/footprint.hpp"
#include "core/tls/store.hpp"
#include "core/upstream/url.hpp"
#include "core/util/fs.hpp"

namespace vaultfwd::profile {

namespace fs = std::filesystem;

namespace {

class Checker {
  public:
    Checker(const Profile& p, const SourceMap& map, std::int64_t now, std::vector<Error>& errors)
        : m_p(p), m_map(map), m_now(now), m_errors(errors) {}

    void run() {
        listen("listen.api", m_p.listen.api);
        listen("listen.proxy", m_p.listen.proxy);
        listen("listen.inbound", m_p.listen.inbound);
        routes();
        footprint_proxies();
        ties();
        certs();
        pins();
        ca();
        for (std::size_t i = 0; i < m_p.upstream.ca_files.size(); ++i)
            certificates("upstream.ca_files[" + std::to_string(i) + "]", m_p.upstream.ca_files[i],
                         "upstream.ca_files entry");
    }

  private:
    // An error at the value of `key`; when the profile does not set that key (a default
    // path), at the nearest enclosing table or entry that it does have.
    void add(const std::string& key, const std::string& code, const std::string& msg,
             int column_in_value = 0) {
        std::string k = key;
        auto at = m_map.at(k);
        while (at.line == 0) {
            const auto cut = k.find_last_of(".[");
            if (cut == std::string::npos || cut == 0)
                break;
            k.resize(cut);
            at = m_map.at(k);
        }
        if (k == key && column_in_value > 0)
            at = m_map.at(key, static_cast<std::size_t>(column_in_value - 1));
        m_errors.push_back(make_error(code, msg, at.line, at.column));
    }

    void listen(const std::string& key, const std::string& value) {
        if (auto r = check_listen(value); !r)
            add(key, r.error().code, key + ": " + r.error().message);
    }

    void routes() {
        for (auto& problem : dialect::vgs::check_routes(m_p.routes))
            add(problem.key, problem.error.code, problem.error.message, problem.error.column);
    }

    // What [[certs]] and [[pins]] entries are tied to must exist.
    void ties() {
        auto has = [](const auto& list, const std::string& id) {
            return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.id == id; });
        };
        for (std::size_t i = 0; i < m_p.certs.size(); ++i) {
            const auto& c = m_p.certs[i];
            const std::string key = "certs[" + std::to_string(i) + "].";
            const std::string what = "certificate \"" + c.name + "\"";
            if (!c.credential.empty() && !has(m_p.proxy_credentials, c.credential))
                add(key + "credential", "profile.bad_reference",
                    what + " is tied to proxy credential \"" + c.credential +
                        "\", but no [[proxy_credentials]] entry has that id");
            if (!c.route.empty() && !has(m_p.routes, c.route))
                add(key + "route", "profile.bad_reference",
                    what + " is tied to route \"" + c.route +
                        "\", but no [[routes]] entry has that id");
            if (!c.proxy.empty() && !has(m_p.footprint_proxies, c.proxy))
                add(key + "proxy", "profile.bad_reference",
                    what + " is tied to footprint proxy \"" + c.proxy +
                        "\", but no [[footprint_proxies]] entry has that id");
        }
        for (std::size_t i = 0; i < m_p.pins.size(); ++i) {
            const auto& pin = m_p.pins[i];
            if (!pin.scope.empty() && !has(m_p.routes, pin.scope) &&
                !has(m_p.footprint_proxies, pin.scope))
                add("pins[" + std::to_string(i) + "].scope", "profile.bad_reference",
                    "pin \"" + pin.name + "\" is scoped to \"" + pin.scope +
                        "\", but no route or footprint proxy has that id");
        }
    }

    void footprint_proxies() {
        for (std::size_t i = 0; i < m_p.footprint_proxies.size(); ++i) {
            const auto& fp = m_p.footprint_proxies[i];
            const std::string key = "footprint_proxies[" + std::to_string(i) + "].";
            const std::string where = "footprint proxy \"" + fp.id + "\"";
            if (!fp.url.empty())
                if (auto u = upstream::parse_url(fp.url); !u)
                    add(key + "url", "profile.bad_url", where + " url: " + u.error().message);
            for (std::size_t k = 0; k < fp.ingress_rules.size(); ++k) {
                const std::string rkey = key + "ingress_rules[" + std::to_string(k) + "]";
                // A stored rule names its fp_id, or takes it from the request's x-fp-id: it is
                // well formed when it parses either way.
                auto rule = tmpl::parse_ingress_rule(fp.ingress_rules[k]);
                if (!rule)
                    if (auto global = tmpl::parse_ingress_rule(fp.ingress_rules[k], "fp_id_check"))
                        rule = std::move(global);
                if (!rule) {
                    add(rkey, "profile.bad_ingress_rule",
                        where + " ingress rule: " + rule.error().message);
                    continue;
                }
                if (auto q = jsonpath::compile(rule->path); !q) {
                    const auto in_rule = fp.ingress_rules[k].find(rule->path);
                    add(rkey, "profile.bad_ingress_rule",
                        where + " ingress rule: JSONPath " + rule->path + ": " + q.error().message,
                        in_rule == std::string::npos
                            ? 0
                            : static_cast<int>(in_rule) + std::max(q.error().column, 1));
                }
            }
        }
    }

    // The text of a file the profile names, or an error at `key` saying what to do.
    std::optional<std::string> file(const std::string& key, const std::string& value,
                                    const std::string& what, const std::string& fix) {
        const fs::path path = m_p.resolve(value);
        std::error_code ec;
        if (!fs::is_regular_file(path, ec)) {
            add(key, "profile.missing_file",
                what + ": " + path.string() + " does not exist" + (fix.empty() ? "" : "; " + fix));
            return std::nullopt;
        }
        auto text = util::read_file(path);
        if (!text) {
            add(key, "profile.missing_file", text.error().message);
            return std::nullopt;
        }
        return *text;
    }

    void certificates(const std::string& key, const std::string& value, const std::string& what) {
        auto pem = file(key, value, what + " file", "");
        if (!pem)
            return;
        if (auto c = tls::check_certs(*pem, m_now, tls::Expiry::allow, m_p.resolve(value).string());
            !c)
            add(key, c.error().code, what + ": " + c.error().message);
    }

    // A certificate file and its key file: both present and parsing, the key the certificate's.
    void pair(const std::string& key, const std::string& cert, const std::string& key_file,
              const std::string& what, const std::string& fix) {
        auto cert_pem = file(key + "cert", cert, what + " certificate file", fix);
        auto key_pem = key_file.empty() ? std::optional<std::string>{}
                                        : file(key + "key", key_file, what + " key file", fix);
        if (!cert_pem)
            return;
        if (key_file.empty()) {
            if (auto c = tls::check_certs(*cert_pem, m_now, tls::Expiry::allow,
                                          m_p.resolve(cert).string());
                !c)
                add(key + "cert", c.error().code, what + ": " + c.error().message);
            return;
        }
        if (!key_pem)
            return;
        if (auto c = tls::check_pair(*cert_pem, *key_pem, m_now, tls::Expiry::allow,
                                     m_p.resolve(cert).string(), m_p.resolve(key_file).string());
            !c)
            add(key + (c.error().code == "tls.bad_pem" ? "cert" : "key"), c.error().code,
                what + ": " + c.error().message);
    }

    void certs() {
        for (std::size_t i = 0; i < m_p.certs.size(); ++i) {
            const auto& c = m_p.certs[i];
            if (c.cert.empty())
                continue; // already reported as missing
            pair("certs[" + std::to_string(i) + "].", c.cert, c.key, "[[certs]] \"" + c.name + "\"",
                 "add it again with 'vaultfwd cert add' or remove the entry with 'vaultfwd cert "
                 "rm " + c.name + "'");
        }
    }

    void pins() {
        for (std::size_t i = 0; i < m_p.pins.size(); ++i) {
            const auto& pin = m_p.pins[i];
            if (!pin.cert.empty())
                certificates("pins[" + std::to_string(i) + "].cert", pin.cert,
                             "[[pins]] \"" + pin.name + "\" certificate");
        }
    }

    void ca() {
        const std::string cert = m_p.ca.cert.empty() ? (m_p.data_dir / "ca.pem").string() : m_p.ca.cert;
        const std::string key = m_p.ca.key.empty() ? (m_p.data_dir / "ca.key").string() : m_p.ca.key;
        pair("ca.", cert, key, "[ca] the local CA's", "run 'vaultfwd ca init'");
    }

    const Profile& m_p;
    const SourceMap& m_map;
    std::int64_t m_now;
    std::vector<Error>& m_errors;
};

} // namespace

Result<void> check_listen_host(std::string_view host) {
    const std::string h(host);
    unsigned char buf[16];
    if (h.find(':') != std::string::npos) {
        if (inet_pton(AF_INET6, h.c_str(), buf) != 1)
            return make_error("profile.bad_listen", "\"" + h + "\" is not an IPv6 address");
        return {};
    }
    // Numbers and dots are an IPv4 address, never a name: "300.1.1.1" would otherwise reach
    // the resolver and fail only when serve listens, as an unknown host.
    if (!h.empty() && h.find_first_not_of("0123456789.") == std::string::npos &&
        inet_pton(AF_INET, h.c_str(), buf) != 1)
        return make_error("profile.bad_listen",
                          "\"" + h + "\" is not an IPv4 address: four numbers 0 to 255, as in "
                          "127.0.0.1");
    return {};
}

Result<void> check_listen(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        return make_error("profile.bad_listen",
                          "listen address \"" + std::string(text) +
                              "\" must be host:port, e.g. 127.0.0.1:7410 or [::1]:7410");
    std::string host(text.substr(0, colon));
    const std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        unsigned char buf[16];
        if (inet_pton(AF_INET6, host.c_str(), buf) != 1)
            return make_error("profile.bad_listen",
                              "listen address \"" + std::string(text) + "\": \"" + host +
                                  "\" is not an IPv6 address");
    } else if (host.find(':') != std::string::npos) {
        return make_error("profile.bad_listen", "listen address \"" + std::string(text) +
                                                    "\": write an IPv6 host in brackets, as in "
                                                    "[::1]:7410");
    } else if (auto ok = check_listen_host(host); !ok) {
        return make_error("profile.bad_listen",
                          "listen address \"" + std::string(text) + "\": " + ok.error().message);
    }
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(port)) > 65535)
        return make_error("profile.bad_listen", "listen address \"" + std::string(text) +
                                                    "\": the port must be a number from 0 to "
                                                    "65535 (0 picks a free one)");
    return {};
}

std::vector<Error> check(std::string_view text, const fs::path& file, const fs::path& home,
                         const std::string& name, std::int64_t now) {
    Profile p;
    SourceMap map;
    auto errors = read(text, file, home, name, p, map);
    if (!errors.empty() && errors.front().code == "profile.syntax")
        return errors;
    Checker(p, map, now, errors).run();
    std::stable_sort(errors.begin(), errors.end(), [](const Error& a, const Error& b) {
        int la = a.line ? a.line : 1 << 30, lb = b.line ? b.line : 1 << 30;
        return la != lb ? la < lb : a.column < b.column;
    });
    return errors;
}

} // namespace vaultfwd::profile
