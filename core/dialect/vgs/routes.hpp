// SPDX-License-Identifier: Apache-2.0
#pragma once
// VGS-style routes, compiled once from the profile. An outbound route (the forward proxy)
// matches the upstream host dialed; an inbound route (the inbound port, a reverse proxy)
// matches the request's Host and names its upstream. Both may narrow by path and method; their
// filters, each with its own conditions, say which values to reveal (alias → value) or redact
// (value → alias), in which phase, and where: JSONPath, form field, regex or header.

#include <optional>
#include <string>
#include <vector>

#include "core/dialect/vgs/regex.hpp"
#include "core/jsonpath/jsonpath.hpp"
#include "core/profile/profile.hpp"
#include "core/upstream/url.hpp"
#include "core/util/result.hpp"
#include "core/vault/alias.hpp"

namespace vaultfwd::dialect::vgs {

enum class Phase { request, response };
enum class Operation { reveal, redact };
enum class Transformer { json_path, form_field, regex, header };
enum class OnUnknown { fail, pass };
enum class Direction { outbound, inbound };

// What routes and filter conditions look at: always the request, in both phases (as VGS does).
struct RequestInfo {
    std::string host; // the host dialed, lower-case, IPv6 without brackets
    std::string method;
    std::string path; // without the query
    std::string content_type; // the request's Content-Type header, as sent
    int status = 0;           // the upstream's status in the response phase; 0: not known yet
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
    std::optional<Regex> status; // over the decimal status code (response phase only)

    // True when the filter's conditions hold for `req` (a status condition holds while
    // req.status is 0, so that a caller can ask before the answer is there).
    bool applies_to(const RequestInfo& req) const;
};

struct CompiledRoute {
    std::string id;
    Regex host;
    Regex path;
    std::vector<std::string> methods; // upper-case; empty: any
    std::vector<CompiledFilter> filters;
    Direction direction = Direction::outbound;
    upstream::Url upstream; // inbound: where requests go (path_and_query unused)

    // True when host, path and methods match `req`.
    bool matches(const RequestInfo& req) const;
    // The route's filters for `phase` whose conditions hold for `req`, in order.
    std::vector<const CompiledFilter*> filters_for(const RequestInfo& req, Phase phase) const;
};

// An inbound route's upstream (VGS's destination_override_endpoint): an http(s) URL with a
// host and optionally a port, no path beyond "/", no query ("vgs.bad_upstream" otherwise).
Result<upstream::Url> parse_inbound_upstream(const std::string& text);

class RouteTable {
  public:
    // Compiles the routes of `direction` (the others are left out): regexes, JSONPaths,
    // replacements, upstreams ("vgs.bad_route", naming the route, the filter and the problem,
    // e.g. a ${group} the pattern does not define).
    static Result<RouteTable> compile(const std::vector<profile::Route>& routes,
                                      Direction direction = Direction::outbound);
    RouteTable() = default;

    struct Match {
        const CompiledRoute* route = nullptr; // nullptr: no route applies, pass through
        std::vector<const CompiledFilter*> filters;
    };
    // The first route (in profile order) whose host, path and methods match `req` and that has
    // at least one filter for `phase` whose conditions hold, with those filters in order.
    Match match(const RequestInfo& req, Phase phase) const;
    // The first route (in profile order) whose host, path and methods match `req`, filters or
    // not (inbound: the route that answers a request); nullptr when none does.
    const CompiledRoute* find(const RequestInfo& req) const;
    // True when some route's host pattern matches `host` (a CONNECT target of the inbound port).
    bool any_host_matches(const std::string& host) const;
    std::size_t size() const { return m_routes.size(); }

  private:
    std::vector<CompiledRoute> m_routes;
};

// The media type of a Content-Type value: lower-case, without parameters or spaces.
std::string media_type(std::string_view content_type);

} // namespace vaultfwd::dialect::vgs
