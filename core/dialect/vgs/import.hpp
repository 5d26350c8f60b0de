// SPDX-License-Identifier: Apache-2.0
#pragma once
// `vaultfwd routes import`: VGS dashboard route exports (YAML or JSON,
// {data: [{attributes: {host_endpoint, entries: [...]}, type: rule_chain}], version: 1}) become
// profile [[routes]]: outbound routes (destination_override_endpoint "*") for the forward
// proxy, inbound routes (an upstream in destination_override_endpoint) for the inbound port.
// A route may sit under `attributes` of a `data` item or at the top of the item itself. Whatever
// cannot be carried over (XPath, classifiers, custom operations, conditions on other fields, …)
// is named in the report, never dropped silently.

#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/profile/profile.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::dialect::vgs {

struct ImportReport {
    std::vector<profile::Route> routes; // converted, in export order
    std::vector<std::string> skipped;   // each part not imported, naming it and why
    std::vector<std::string> notes;     // imported, but with a difference worth knowing
    std::vector<std::string> already;   // ids of routes the profile already has, as exported
};

// Converts an export. VGS entry → filter: phase REQUEST/RESPONSE; operation ENRICH (or
// REVEAL) → reveal, REDACT → redact; JSON_PATH, FORM_FIELD and REGEX on the body; JSON_PATH
// "$.Name" on headers → header filter; public_token_generator → alias format; the PathInfo,
// ContentType, Method and (response phase) Status conditions (equals, matches, begins_with, ends_with, contains,
// not_equals, not_matches; AND, or OR over one field) → the filter's path, content_type and
// methods. Errors: "vgs.bad_yaml" (line and column), "vgs.bad_export" (not an export's shape).
Result<ImportReport> convert_export(std::string_view text);

// The [[routes]] entry of `route` as a TOML table, leaving out fields at their defaults.
toml::table route_to_toml(const profile::Route& route);

enum class DryRun { no, yes };
// Converts `text`; a route the profile already has as converted is listed in `already` (a
// re-import changes nothing); routes whose id the profile (or an earlier route of the export)
// has for another route, and routes whose patterns do not compile, are skipped; the rest is
// appended to the profile file in one edit (not with DryRun::yes). The report lists what was
// (or would be) appended.
Result<ImportReport> import_routes(const profile::Profile& profile, std::string_view text,
                                   DryRun dry_run);

} // namespace vaultfwd::dialect::vgs
