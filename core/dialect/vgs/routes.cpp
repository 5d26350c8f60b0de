// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vgs/routes.hpp"
#include "core/dialect/vgs/route_check.hpp"

#include <algorithm>

#include "core/util/strings.hpp"

namespace vaultfwd::dialect::vgs {

namespace {

std::string upper(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

bool method_in(const std::vector<std::string>& methods, const std::string& method) {
    if (methods.empty())
        return true;
    std::string m = upper(method);
    return std::find(methods.begin(), methods.end(), m) != methods.end();
}

// Checks that every ${name} and $n of a replacement names a group of the pattern, so that a
// typo fails when the profile is loaded rather than on the first matching request.
Result<void> check_replacement(const std::string& replacement, const Regex& re) {
    for (std::size_t i = 0; i < replacement.size(); ++i) {
        char c = replacement[i];
        if (c == '\\') {
            ++i;
        } else if (c == '$' && i + 1 < replacement.size() && replacement[i + 1] == '{') {
            auto close = replacement.find('}', i + 2);
            if (close == std::string::npos)
                return make_error("vgs.bad_replacement",
                                  "replacement \"" + replacement + "\" has an unclosed ${");
            std::string name = replacement.substr(i + 2, close - i - 2);
            if (re.group_number(name) < 0)
                return make_error("vgs.bad_replacement",
                                  "replacement \"" + replacement + "\" names group \"" + name +
                                      "\", which the pattern does not define");
            i = close;
        } else if (c == '$' && i + 1 < replacement.size() && std::isdigit(static_cast<unsigned char>(replacement[i + 1]))) {
            int n = replacement[i + 1] - '0';
            if (n > re.group_count())
                return make_error("vgs.bad_replacement", "replacement \"" + replacement +
                                                             "\" refers to group $" +
                                                             std::to_string(n) +
                                                             ", which the pattern does not have");
        }
    }
    return {};
}

// Compiles one filter; each problem goes to `problems` with its key under `key` (the
// filter's profile key), and the filter is only usable when none was added.
CompiledFilter compile_filter(const profile::RouteFilter& f, const std::string& where,
                              const std::string& key, std::vector<RouteProblem>& problems) {
    auto problem = [&](const std::string& sub, const Error& e) {
        problems.push_back({sub.empty() ? key : key + "." + sub,
                            make_error("vgs.bad_route", where + ": " + e.message, 0, e.column)});
    };
    auto plain = [&](const std::string& sub, const std::string& msg) {
        problem(sub, make_error("vgs.bad_route", msg));
    };
    CompiledFilter cf;
    cf.where = where;
    cf.phase = f.phase == "response" ? Phase::response : Phase::request;
    cf.operation = f.operation == "redact" ? Operation::redact : Operation::reveal;
    if (f.transformer == "form_field")
        cf.transformer = Transformer::form_field;
    else if (f.transformer == "regex")
        cf.transformer = Transformer::regex;
    else if (f.transformer == "header")
        cf.transformer = Transformer::header;
    else if (f.transformer == "json_path")
        cf.transformer = Transformer::json_path;
    else
        plain("transformer", "unknown transformer \"" + f.transformer + "\"");
    cf.targets = f.targets;
    cf.replacement = f.replacement;
    cf.on_unknown = f.on_unknown_alias == "pass" ? OnUnknown::pass : OnUnknown::fail;
    if (auto format = vault::parse_alias_format(f.format))
        cf.format = *format;
    else
        plain("format", "unknown alias format \"" + f.format + "\"");
    if (cf.transformer == Transformer::json_path) {
        for (std::size_t i = 0; i < f.targets.size(); ++i) {
            auto q = jsonpath::compile(f.targets[i]);
            if (q) {
                cf.queries.push_back(*q);
            } else {
                Error e = q.error();
                e.message = "JSONPath \"" + f.targets[i] + "\": " + e.message;
                problem("targets[" + std::to_string(i) + "]", e);
            }
        }
    }
    if (cf.transformer == Transformer::regex || !f.pattern.empty()) {
        auto re = Regex::compile(f.pattern);
        if (!re) {
            problem("pattern", re.error());
        } else {
            if (auto r = check_replacement(f.replacement, *re); !r)
                problem("replacement", r.error());
            cf.pattern = *re;
        }
    }
    if (cf.transformer != Transformer::regex && cf.targets.empty())
        plain("", "the filter has no targets");
    if (!f.path.empty()) {
        auto re = Regex::compile(f.path);
        if (re)
            cf.path = *re;
        else
            problem("path", re.error());
    }
    if (!f.content_type.empty()) {
        auto re = Regex::compile(f.content_type, Regex::Case::insensitive);
        if (re)
            cf.content_type = *re;
        else
            problem("content_type", re.error());
    }
    if (!f.status.empty()) {
        if (cf.phase != Phase::response)
            plain("status", "a status condition needs phase = \"response\"");
        auto re = Regex::compile(f.status);
        if (re)
            cf.status = *re;
        else
            problem("status", re.error());
    }
    for (const auto& m : f.methods)
        cf.methods.push_back(upper(m));
    return cf;
}

// Compiles every route (of `direction` only, when `table` is given) into `table`, reporting
// every problem.
std::vector<RouteProblem> compile_routes(const std::vector<profile::Route>& routes,
                                         std::vector<CompiledRoute>* table, Direction direction) {
    std::vector<RouteProblem> problems;
    for (std::size_t ri = 0; ri < routes.size(); ++ri) {
        const auto& r = routes[ri];
        const Direction dir = r.direction == "inbound" ? Direction::inbound : Direction::outbound;
        if (table && dir != direction)
            continue;
        const std::string where = "route \"" + r.id + "\"";
        const std::string key = "routes[" + std::to_string(ri) + "]";
        const std::size_t before = problems.size();
        upstream::Url up;
        if (dir == Direction::inbound) {
            auto parsed = parse_inbound_upstream(r.upstream);
            if (parsed)
                up = *parsed;
            else
                problems.push_back({key + ".upstream", make_error("vgs.bad_route", where + " upstream: " +
                                                                                       parsed.error().message)});
        }
        auto host = Regex::compile(r.host, Regex::Case::insensitive);
        if (!host)
            problems.push_back({key + ".host", make_error("vgs.bad_route",
                                                          where + " host: " + host.error().message,
                                                          0, host.error().column)});
        auto path = Regex::compile(r.path);
        if (!path)
            problems.push_back({key + ".path", make_error("vgs.bad_route",
                                                          where + " path: " + path.error().message,
                                                          0, path.error().column)});
        std::vector<CompiledFilter> filters;
        for (std::size_t i = 0; i < r.filters.size(); ++i) {
            const auto& f = r.filters[i];
            std::string fwhere = where + " filter " +
                                 (f.id.empty() ? std::to_string(i + 1) : "\"" + f.id + "\"");
            filters.push_back(compile_filter(f, fwhere, key + ".filters[" + std::to_string(i) + "]",
                                             problems));
        }
        if (!table || problems.size() != before)
            continue;
        CompiledRoute cr{r.id, *host, *path, {}, std::move(filters), dir, up};
        for (const auto& m : r.methods)
            cr.methods.push_back(upper(m));
        table->push_back(std::move(cr));
    }
    return problems;
}

} // namespace

std::string media_type(std::string_view content_type) {
    auto semi = content_type.find(';');
    return util::to_lower(util::trim(content_type.substr(0, semi)));
}

bool CompiledFilter::applies_to(const RequestInfo& req) const {
    if (!method_in(methods, req.method))
        return false;
    if (path && !path->full_match(req.path))
        return false;
    if (content_type && !content_type->full_match(media_type(req.content_type)))
        return false;
    if (status && req.status != 0 && !status->full_match(std::to_string(req.status)))
        return false;
    return true;
}

bool CompiledRoute::matches(const RequestInfo& req) const {
    return host.full_match(req.host) && path.full_match(req.path) && method_in(methods, req.method);
}

std::vector<const CompiledFilter*> CompiledRoute::filters_for(const RequestInfo& req, Phase phase) const {
    std::vector<const CompiledFilter*> out;
    for (const auto& f : filters)
        if (f.phase == phase && f.applies_to(req))
            out.push_back(&f);
    return out;
}

Result<upstream::Url> parse_inbound_upstream(const std::string& text) {
    if (text.empty())
        return make_error("vgs.bad_upstream", "an inbound route needs an upstream such as "
                                              "\"https://api.example.com\" or \"http://127.0.0.1:8080\"");
    auto url = upstream::parse_url(text);
    if (!url)
        return make_error("vgs.bad_upstream", url.error().message);
    if (url->path_and_query != "/")
        return make_error("vgs.bad_upstream",
                          "\"" + text + "\" has a path or query: an inbound route's upstream is scheme://host[:port] "
                          "and each request keeps its own path and query");
    return *url;
}

Result<RouteTable> RouteTable::compile(const std::vector<profile::Route>& routes, Direction direction) {
    RouteTable table;
    auto problems = compile_routes(routes, &table.m_routes, direction);
    if (!problems.empty()) {
        Error e = problems.front().error;
        e.column = 0; // a column inside a value means nothing without the profile's position
        return e;
    }
    return table;
}

std::vector<RouteProblem> check_routes(const std::vector<profile::Route>& routes) {
    return compile_routes(routes, nullptr, Direction::outbound);
}

const CompiledRoute* RouteTable::find(const RequestInfo& req) const {
    for (const auto& route : m_routes)
        if (route.matches(req))
            return &route;
    return nullptr;
}

bool RouteTable::any_host_matches(const std::string& host) const {
    return std::any_of(m_routes.begin(), m_routes.end(), [&](const CompiledRoute& r) { return r.host.full_match(host); });
}

RouteTable::Match RouteTable::match(const RequestInfo& req, Phase phase) const {
    for (const auto& route : m_routes) {
        if (!route.matches(req))
            continue;
        Match m;
        m.filters = route.filters_for(req, phase);
        if (!m.filters.empty()) {
            m.route = &route;
            return m;
        }
    }
    return {};
}

} // namespace vaultfwd::dialect::vgs
