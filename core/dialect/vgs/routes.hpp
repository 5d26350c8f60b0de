// SPDX-License-Identifier: Apache-2.0
#pragma once
// VGS-style outbound routes, compiled once from the profile: a route matches the upstream host
// (and optionally path and method); its filters, each with its own conditions, say which
// values to reveal (alias → value, usually in the request) or redact (value → alias, usually
// in the response), and where: JSONPath, form field, regex or header.

#include <optional>
#include <string>
#include <vector>

#include "core/dialect/vgs/regex.hpp"
#include "core/jsonpath/jsonpath.hpp"
#include "core/profile/profile.hpp"
#include "core/util/result.hpp"
#include "core/vault/alias.hpp"

namespace vaultfwd::dialect::vgs {

enum class Phase { request, response };
enum class Operation { reveal, redact };
enum class Transformer { json_path, form_field, regex, header };
enum class OnUnknown { fail, pass };

// What routes and filter conditions look at: always the request, in both phases (as VGS does).
struct RequestInfo {
    std::string host; // the host dialed, lower-case, IPv6 without brackets
    std::string method;
    std::string path; // without the query
    std::string content_type; // the request's Content-Type header, as sent
};

struct CompiledFilter {
    std::string where; // "route \"acme\" filter 2", for messages
    Phase phase = Phase::request;
    Operation operation = Operation::reveal;
    Transformer transformer = Transformer::json_path;
    std::vector<std::string> targets; // JSONPaths, form field names or header names
    std::vector<jsonpath::Query> queries; // json_path: one per target
    std::optional<Regex> pattern;         // regex; header: optional, within the value
    std::string replacement = "%s";
    vault::AliasFormat format = vault::AliasFormat::uuid;
    OnUnknown on_unknown = OnUnknown::fail;
    std::optional<Regex> path;
    std::vector<std::string> methods; // upper-case
    std::optional<Regex> content_type;

    // True when the filter's conditions hold for `req`.
    bool applies_to(const RequestInfo& req) const;
};

struct CompiledRoute {
    std::string id;
    Regex host;
    Regex path;
    std::vector<std::string> methods; // upper-case; empty: any
    std::vector<CompiledFilter> filters;
};

class RouteTable {
  public:
    // Compiles every route: regexes, JSONPaths, replacements ("vgs.bad_route", naming the
    // route, the filter and the problem, e.g. a ${group} the pattern does not define).
    static Result<RouteTable> compile(const std::vector<profile::Route>& routes);
    RouteTable() = default;

    struct Match {
        const CompiledRoute* route = nullptr; // nullptr: no route applies, pass through
        std::vector<const CompiledFilter*> filters;
    };
    // The first route (in profile order) whose host, path and methods match `req` and that has
    // at least one filter for `phase` whose conditions hold, with those filters in order.
    Match match(const RequestInfo& req, Phase phase) const;
    std::size_t size() const { return m_routes.size(); }

  private:
    std::vector<CompiledRoute> m_routes;
};

// The media type of a Content-Type value: lower-case, without parameters or spaces.
std::string media_type(std::string_view content_type);

} // namespace vaultfwd::dialect::vgs
