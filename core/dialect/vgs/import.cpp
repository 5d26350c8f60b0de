// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vgs/import.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include <yaml-cpp/yaml.h>

#include "core/dialect/vgs/regex.hpp"
#include "core/dialect/vgs/routes.hpp"
#include "core/profile/edit.hpp"
#include "core/util/strings.hpp"
#include "core/vault/alias.hpp"

namespace vaultfwd::dialect::vgs {

namespace {

bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

std::string scalar(const YAML::Node& n, const std::string& fallback = {}) {
    if (present(n) && n.IsScalar())
        return n.as<std::string>();
    return fallback;
}

std::string upper(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// A list of strings from a sequence (or a lone scalar).
std::vector<std::string> strings(const YAML::Node& n) {
    std::vector<std::string> out;
    if (!present(n))
        return out;
    if (n.IsScalar()) {
        out.push_back(n.as<std::string>());
    } else if (n.IsSequence()) {
        for (const auto& item : n)
            if (item.IsScalar())
                out.push_back(item.as<std::string>());
    }
    return out;
}

bool non_empty_collection(const YAML::Node& n) {
    return present(n) && (n.IsSequence() || n.IsMap()) && n.size() > 0;
}

std::string alternation(const std::vector<std::string>& parts) {
    if (parts.size() == 1)
        return parts.front();
    std::string out = "(?:";
    for (std::size_t i = 0; i < parts.size(); ++i)
        out += (i ? ")|(?:" : "") + parts[i];
    return out + ")";
}

// All of several full-match regexes at once.
std::string all_of(const std::vector<std::string>& regexes) {
    if (regexes.size() == 1)
        return regexes.front();
    std::string out;
    for (const auto& r : regexes)
        out += "(?=(?:" + r + ")\\z)";
    return out + "(?s:.*)";
}

// The conditions of a VGS filter (its `config`), as vaultfwd filter fields.
struct Conditions {
    std::vector<std::string> path;         // full-match regexes, all must hold
    std::vector<std::string> content_type; // idem, over the media type
    std::vector<std::string> status;       // idem, over the upstream's status code
    std::optional<std::set<std::string>> methods;

    std::vector<std::string>& of(const std::string& field) {
        return field == "PathInfo" ? path : field == "ContentType" ? content_type : status;
    }
};

bool is_status_field(const std::string& field) {
    return field == "Status" || field == "ResponseStatus" || field == "StatusCode";
}

// One expression {field, operator, values} → a full-match regex over the field, or why not.
Result<std::string> expression_regex(const std::string& field, const std::string& op,
                                     std::vector<std::string> values) {
    if (values.empty())
        return make_error("unsupported", "a " + field + " condition without values");
    if (field == "ContentType")
        for (auto& v : values)
            if (op != "matches" && op != "not_matches")
                v = media_type(v);
    std::vector<std::string> quoted;
    for (const auto& v : values)
        quoted.push_back(regex_quote(v));
    std::string q = alternation(quoted), raw = alternation(values);
    std::string o = util::to_lower(op);
    if (o == "equals")
        return q;
    if (o == "matches")
        return raw;
    if (o == "begins_with" || o == "starts_with")
        return "(?:" + q + ")(?s:.*)";
    if (o == "ends_with")
        return "(?s:.*)(?:" + q + ")";
    if (o == "contains")
        return "(?s:.*)(?:" + q + ")(?s:.*)";
    if (o == "not_equals")
        return "(?!(?:" + q + ")\\z)(?s:.*)";
    if (o == "not_matches")
        return "(?!(?:" + raw + ")\\z)(?s:.*)";
    return make_error("unsupported", "the condition operator \"" + op + "\"");
}

struct Expr {
    std::string field, op;
    std::vector<std::string> values;
};

Result<void> add_expression(const Expr& e, Conditions& c) {
    if (e.field == "Method" || e.field == "RequestMethod") {
        if (util::to_lower(e.op) != "equals")
            return make_error("unsupported", "the Method condition operator \"" + e.op + "\"");
        std::set<std::string> ms;
        for (const auto& v : e.values)
            ms.insert(upper(v));
        if (c.methods) {
            std::set<std::string> both;
            for (const auto& m : ms)
                if (c.methods->count(m))
                    both.insert(m);
            c.methods = both;
        } else {
            c.methods = ms;
        }
        return {};
    }
    if (e.field != "PathInfo" && e.field != "ContentType" && !is_status_field(e.field))
        return make_error("unsupported", "a condition on " +
                                             (e.field.empty() ? std::string("an unnamed field")
                                                              : "\"" + e.field + "\"") +
                                             " (vaultfwd knows PathInfo, ContentType, Method and Status)");
    auto re = expression_regex(e.field, e.op, e.values);
    if (!re)
        return re.error();
    c.of(is_status_field(e.field) ? "Status" : e.field).push_back(*re);
    return {};
}

Expr read_expression(const YAML::Node& n) {
    return Expr{scalar(n["field"]), scalar(n["operator"], "equals"), strings(n["values"])};
}

// A condition group: {condition: AND|OR, expression: {...}?, rules: [{expression}|{group}]}.
Result<void> read_conditions(const YAML::Node& group, Conditions& c, int depth = 0) {
    if (!present(group))
        return {};
    if (depth > 8)
        return make_error("unsupported", "conditions nested this deep");
    std::string condition = upper(scalar(group["condition"], "AND"));
    std::vector<YAML::Node> leaves;    // expressions
    std::vector<YAML::Node> subgroups; // rules that hold rules of their own
    if (present(group["expression"]))
        leaves.push_back(group["expression"]);
    if (present(group["rules"]) && group["rules"].IsSequence()) {
        for (const auto& r : group["rules"]) {
            if (present(r["expression"]))
                leaves.push_back(r["expression"]);
            if (present(r["rules"]))
                subgroups.push_back(r);
        }
    }
    if (condition == "OR" && leaves.size() + subgroups.size() > 1) {
        // One field only: OR is then an alternation of that field's regexes (or methods).
        if (!subgroups.empty())
            return make_error("unsupported", "nested rules under an OR condition");
        std::vector<Expr> exprs;
        for (const auto& l : leaves)
            exprs.push_back(read_expression(l));
        for (const auto& e : exprs)
            if (e.field != exprs.front().field)
                return make_error("unsupported", "an OR condition over different fields (" +
                                                     exprs.front().field + ", " + e.field + ")");
        std::vector<std::string> alternatives;
        std::set<std::string> methods;
        for (const auto& e : exprs) {
            Conditions part;
            if (auto r = add_expression(e, part); !r)
                return r;
            if (part.methods)
                methods.insert(part.methods->begin(), part.methods->end());
            alternatives.insert(alternatives.end(), part.path.begin(), part.path.end());
            alternatives.insert(alternatives.end(), part.content_type.begin(),
                                part.content_type.end());
            alternatives.insert(alternatives.end(), part.status.begin(), part.status.end());
        }
        if (!methods.empty())
            return add_expression(Expr{"Method", "equals", {methods.begin(), methods.end()}}, c);
        const std::string& field = exprs.front().field;
        c.of(is_status_field(field) ? "Status" : field).push_back(alternation(alternatives));
        return {};
    }
    if (condition != "AND" && condition != "OR")
        return make_error("unsupported", "the condition \"" + condition + "\"");
    for (const auto& l : leaves)
        if (auto r = add_expression(read_expression(l), c); !r)
            return r;
    for (const auto& g : subgroups)
        if (auto r = read_conditions(g, c, depth + 1); !r)
            return r;
    return {};
}

// "$.Name", "$['Name']", "$[\"Name\"]" → Name; empty for anything else.
std::string header_name_of(const std::string& path) {
    if (path.size() > 2 && path.rfind("$.", 0) == 0) {
        std::string name = path.substr(2);
        if (name.find_first_of(".[]*'\" ") == std::string::npos)
            return name;
        return {};
    }
    if (path.size() > 5 && path.rfind("$[", 0) == 0 && path.back() == ']') {
        char q = path[2];
        if ((q == '\'' || q == '"') && path[path.size() - 2] == q) {
            std::string name = path.substr(3, path.size() - 5);
            if (name.find_first_of("'\"\\") == std::string::npos && !name.empty())
                return name;
        }
    }
    return {};
}

void convert_entry(const YAML::Node& e, std::size_t index, const std::string& route_label,
                   profile::Route& route, ImportReport& report) {
    std::string entry_id = scalar(e["id"]);
    std::string label = route_label + " filter " +
                        (entry_id.empty() ? std::to_string(index + 1) : "\"" + entry_id + "\"");
    auto skip = [&](const std::string& why) {
        report.skipped.push_back(label + ": " + why + "; filter not imported");
    };
    profile::RouteFilter base;
    base.id = entry_id;
    std::string phase = upper(scalar(e["phase"], "REQUEST"));
    if (phase == "REQUEST")
        base.phase = "request";
    else if (phase == "RESPONSE")
        base.phase = "response";
    else
        return skip("phase \"" + phase + "\" is not REQUEST or RESPONSE");
    std::string operation = upper(scalar(e["operation"]));
    if (operation == "REDACT")
        base.operation = "redact";
    else if (operation == "ENRICH" || operation == "REVEAL")
        base.operation = "reveal";
    else
        return skip("operation \"" + operation + "\" is not supported (REDACT, ENRICH)");
    for (const char* key : {"operations", "operations_v2"}) {
        const YAML::Node ops = e[key];
        if (non_empty_collection(ops)) {
            std::vector<std::string> names;
            if (ops.IsSequence())
                for (const auto& op : ops)
                    if (op.IsMap())
                        names.push_back(scalar(op["name"], "?"));
            return skip("custom operations (" +
                        (names.empty() ? std::string(key) : util::join(names, ", ")) +
                        ") are not supported");
        }
    }
    if (non_empty_collection(e["classifiers"]))
        return skip("classifiers are not supported");
    if (present(e["id_selector"]))
        return skip("id_selector is not supported");
    std::string token_manager = upper(scalar(e["token_manager"], "PERSISTENT"));
    if (token_manager != "PERSISTENT")
        report.notes.push_back(label + ": token_manager " + token_manager +
                               " imported as PERSISTENT (vaultfwd keeps every alias)");
    if (base.operation == "redact") {
        std::string gen = scalar(e["public_token_generator"], "UUID");
        if (auto f = vault::parse_alias_format(gen)) {
            base.format = std::string(vault::format_name(*f));
        } else {
            base.format = "UUID";
            report.notes.push_back(label + ": alias format " + gen +
                                   " is not supported, UUID is used instead (formats: " +
                                   util::join(vault::alias_format_names(), ", ") + ")");
        }
    }
    Conditions cond;
    if (auto r = read_conditions(e["config"], cond); !r)
        return skip(r.error().message + " is not supported");
    if (!cond.path.empty())
        base.path = all_of(cond.path);
    if (!cond.content_type.empty())
        base.content_type = all_of(cond.content_type);
    if (!cond.status.empty()) {
        if (base.phase != "response")
            return skip("a Status condition on a " + phase + " filter (the status is the upstream's answer's) is not supported");
        base.status = all_of(cond.status);
    }
    if (cond.methods) {
        if (cond.methods->empty())
            return skip("its Method conditions can never hold together");
        base.methods.assign(cond.methods->begin(), cond.methods->end());
    }

    std::string transformer = upper(scalar(e["transformer"], "JSON_PATH"));
    std::vector<std::string> config = strings(e["transformer_config"]);
    const YAML::Node config_map = e["transformer_config_map"];
    std::vector<std::string> targets = strings(e["targets"]);
    if (targets.empty())
        targets = {"body"};
    for (const auto& target_raw : targets) {
        std::string target = util::to_lower(target_raw);
        if (target == "body") {
            if (transformer == "JSON_PATH" || transformer == "FORM_FIELD") {
                if (config.empty()) {
                    skip("the " + transformer + " transformer has no expressions");
                    continue;
                }
                profile::RouteFilter f = base;
                f.transformer = transformer == "JSON_PATH" ? "json_path" : "form_field";
                f.targets = config;
                route.filters.push_back(std::move(f));
            } else if (transformer == "REGEX") {
                std::vector<std::string> patterns;
                std::string replacement = "%s";
                if (present(config_map) && config_map.IsMap()) {
                    patterns = strings(config_map["patterns"]);
                    if (present(config_map["replacement"]))
                        replacement = scalar(config_map["replacement"]);
                }
                if (patterns.empty())
                    patterns = config;
                patterns.erase(std::remove(patterns.begin(), patterns.end(), std::string()),
                               patterns.end());
                if (patterns.empty()) {
                    skip("the REGEX transformer has no patterns");
                    continue;
                }
                for (std::size_t p = 0; p < patterns.size(); ++p) {
                    profile::RouteFilter f = base;
                    f.transformer = "regex";
                    f.pattern = patterns[p];
                    f.replacement = replacement;
                    if (patterns.size() > 1 && !f.id.empty())
                        f.id += "#" + std::to_string(p + 1);
                    route.filters.push_back(std::move(f));
                }
            } else {
                skip("the " + transformer + " transformer is not supported (JSON_PATH, " +
                     "FORM_FIELD, REGEX)");
            }
        } else if (target == "headers" || target == "header") {
            if (transformer != "JSON_PATH") {
                skip("the " + transformer + " transformer on headers is not supported (JSON_PATH " +
                     "\"$.Header-Name\")");
                continue;
            }
            std::vector<std::string> names;
            for (const auto& c : config) {
                std::string name = header_name_of(c);
                if (name.empty()) {
                    skip("the header expression \"" + c + "\" is not a plain $.Header-Name");
                    names.clear();
                    break;
                }
                names.push_back(name);
            }
            if (names.empty())
                continue;
            profile::RouteFilter f = base;
            f.transformer = "header";
            f.targets = names;
            route.filters.push_back(std::move(f));
        } else {
            skip("the target \"" + target_raw + "\" is not supported (body, headers)");
        }
    }
}

Result<ImportReport> convert_node(const YAML::Node& root) {
    if (!root.IsMap() || !root["data"].IsDefined())
        return make_error("vgs.bad_export",
                          "this is not a VGS route export: it has no top-level \"data\" list "
                          "(export routes from the VGS dashboard as YAML)");
    const YAML::Node data = root["data"];
    if (!data.IsSequence())
        return make_error("vgs.bad_export", "\"data\" must be a list of routes");
    ImportReport report;
    if (present(root["version"]) && scalar(root["version"]) != "1")
        report.notes.push_back("the export has version " + scalar(root["version"]) +
                               "; vaultfwd reads version 1");
    std::size_t n = 0;
    for (const auto& item : data) {
        ++n;
        if (!item.IsMap()) {
            report.skipped.push_back("route " + std::to_string(n) + ": not a mapping; not imported");
            continue;
        }
        const YAML::Node attrs = present(item["attributes"]) ? item["attributes"] : item;
        profile::Route route;
        route.id = scalar(item["id"], scalar(attrs["id"]));
        if (present(attrs["tags"]) && attrs["tags"].IsMap())
            route.description = scalar(attrs["tags"]["name"]);
        if (route.id.empty())
            route.id = route.description.empty() ? "vgs-route-" + std::to_string(n)
                                                 : route.description;
        std::string label = "route \"" + (route.description.empty() ? route.id : route.description) + "\"";
        auto skip_route = [&](const std::string& why) {
            report.skipped.push_back(label + ": " + why + "; route not imported");
        };
        std::string type = scalar(item["type"], "rule_chain");
        if (type != "rule_chain") {
            skip_route("type \"" + type + "\" is not rule_chain");
            continue;
        }
        std::string destination = scalar(attrs["destination_override_endpoint"], "*");
        if (destination != "*") {
            // An inbound route: the dashboard writes its upstream as a URL, or as a bare host
            // (then HTTPS, as VGS dials it, on the export's port when it gives one).
            route.direction = "inbound";
            std::string up = destination;
            if (up.find("://") == std::string::npos) {
                std::string port = scalar(attrs["port"]);
                up = "https://" + up + (port.empty() || port == "443" ? "" : ":" + port);
                report.notes.push_back(label + ": upstream \"" + destination + "\" has no scheme; imported as " + up);
            }
            while (up.size() > 1 && up.back() == '/' && up.find('/', up.find("://") + 3) == up.size() - 1)
                up.pop_back();
            if (auto parsed = parse_inbound_upstream(up); !parsed) {
                skip_route("its upstream (destination_override_endpoint) " + parsed.error().message);
                continue;
            }
            route.upstream = up;
        }
        std::string transport = upper(scalar(attrs["transport"], "HTTP"));
        if (transport != "HTTP") {
            skip_route("transport " + transport + " is not supported");
            continue;
        }
        route.host = scalar(attrs["host_endpoint"]);
        if (route.host.empty()) {
            skip_route("it has no host_endpoint");
            continue;
        }
        const YAML::Node entries = attrs["entries"];
        std::size_t k = 0;
        if (present(entries) && entries.IsSequence())
            for (const auto& e : entries)
                convert_entry(e, k++, label, route, report);
        if (route.filters.empty()) {
            skip_route("none of its filters could be imported");
            continue;
        }
        report.routes.push_back(std::move(route));
    }
    return report;
}

} // namespace

Result<ImportReport> convert_export(std::string_view text) {
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::ParserException& e) {
        return make_error("vgs.bad_yaml", "the export is not valid YAML: " + e.msg,
                          e.mark.line + 1, e.mark.column + 1);
    }
    try {
        return convert_node(root);
    } catch (const YAML::Exception& e) {
        return make_error("vgs.bad_export", "the export has an unexpected shape: " + e.msg,
                          e.mark.line >= 0 ? e.mark.line + 1 : 0,
                          e.mark.column >= 0 ? e.mark.column + 1 : 0);
    }
}

toml::table route_to_toml(const profile::Route& r) {
    const profile::RouteFilter defaults;
    auto array_of = [](const std::vector<std::string>& v) {
        toml::array a;
        for (const auto& s : v)
            a.push_back(s);
        return a;
    };
    toml::table t;
    t.insert("id", r.id);
    if (!r.description.empty())
        t.insert("description", r.description);
    if (r.direction != "outbound")
        t.insert("direction", r.direction);
    if (!r.upstream.empty())
        t.insert("upstream", r.upstream);
    t.insert("host", r.host);
    if (r.path != ".*")
        t.insert("path", r.path);
    if (!r.methods.empty())
        t.insert("methods", array_of(r.methods));
    toml::array filters;
    for (const auto& f : r.filters) {
        toml::table ft;
        if (!f.id.empty())
            ft.insert("id", f.id);
        ft.insert("phase", f.phase);
        ft.insert("operation", f.operation);
        ft.insert("transformer", f.transformer);
        if (!f.targets.empty())
            ft.insert("targets", array_of(f.targets));
        if (!f.pattern.empty())
            ft.insert("pattern", f.pattern);
        if (!f.pattern.empty() && f.replacement != defaults.replacement)
            ft.insert("replacement", f.replacement);
        if (f.operation == "redact")
            ft.insert("format", f.format);
        if (f.on_unknown_alias != defaults.on_unknown_alias)
            ft.insert("on_unknown_alias", f.on_unknown_alias);
        if (!f.path.empty())
            ft.insert("path", f.path);
        if (!f.methods.empty())
            ft.insert("methods", array_of(f.methods));
        if (!f.content_type.empty())
            ft.insert("content_type", f.content_type);
        if (!f.status.empty())
            ft.insert("status", f.status);
        filters.push_back(std::move(ft));
    }
    if (!filters.empty())
        t.insert("filters", std::move(filters));
    return t;
}

Result<ImportReport> import_routes(const profile::Profile& profile, std::string_view text,
                                   DryRun dry_run) {
    auto converted = convert_export(text);
    if (!converted)
        return converted.error();
    ImportReport report;
    report.skipped = converted->skipped;
    report.notes = converted->notes;
    std::set<std::string> ids;
    for (const auto& r : profile.routes)
        ids.insert(r.id);
    std::vector<toml::table> tables;
    for (auto& route : converted->routes) {
        std::string label = "route \"" + route.id + "\"";
        if (!ids.insert(route.id).second) {
            const profile::Route* existing = nullptr;
            for (const auto& r : profile.routes)
                if (r.id == route.id)
                    existing = &r;
            // Compared as they would be written, so defaults the profile leaves out count.
            if (existing && route_to_toml(*existing) == route_to_toml(route))
                report.already.push_back(route.id);
            else
                report.skipped.push_back(
                    label + (existing ? ": the profile already has a different route with this "
                                        "id (remove it first to import this one)"
                                      : ": an earlier route of the export has this id") +
                    "; route not imported");
            continue;
        }
        if (auto compiled = RouteTable::compile({route}, route.direction == "inbound" ? Direction::inbound
                                                                                        : Direction::outbound);
            !compiled) {
            report.skipped.push_back(compiled.error().message + "; route not imported");
            continue;
        }
        tables.push_back(route_to_toml(route));
        report.routes.push_back(std::move(route));
    }
    if (dry_run == DryRun::no && !tables.empty())
        if (auto r = profile::append_tables(profile.file, "routes", tables); !r)
            return r.error();
    return report;
}

} // namespace vaultfwd::dialect::vgs
