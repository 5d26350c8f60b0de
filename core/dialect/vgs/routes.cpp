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
    for (const auto& m : f.methods)
        cf.methods.push_back(upper(m));
    return cf;
}

// Compiles every route into `table` (when given), reporting every problem.
std::vector<RouteProblem> compile_routes(const std::vector<profile::Route>& routes,
                                         std::vector<CompiledRoute>* table) {
    std::vector<RouteProblem> problems;
    for (std::size_t ri = 0; ri < routes.size(); ++ri) {
        const auto& r = routes[ri];
        const std::string where = "route \"" + r.id + "\"";
        const std::string key = "routes[" + std::to_string(ri) + "]";
        const std::size_t before = problems.size();
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
        CompiledRoute cr{r.id, *host, *path, {}, std::move(filters)};
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
    return true;
}

Result<RouteTable> RouteTable::compile(const std::vector<profile::Route>& routes) {
    RouteTable table;
    auto problems = compile_routes(routes, &table.m_routes);
    if (!problems.empty()) {
        Error e = problems.front().error;
        e.column = 0; // a column inside a value means nothing without the profile's position
        return e;
    }
    return table;
}

std::vector<RouteProblem> check_routes(const std::vector<profile::Route>& routes) {
    return compile_routes(routes, nullptr);
}

RouteTable::Match RouteTable::match(const RequestInfo& req, Phase phase) const {
    for (const auto& route : m_routes) {
        if (!route.host.full_match(req.host) || !route.path.full_match(req.path) ||
            !method_in(route.methods, req.method))
            continue;
        Match m;
        for (const auto& f : route.filters)
            if (f.phase == phase && f.applies_to(req))
                m.filters.push_back(&f);
        if (!m.filters.empty()) {
            m.route = &route;
            return m;
        }
    }
    return {};
}

} // namespace vaultfwd::dialect::vgs
