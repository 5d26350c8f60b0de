// SPDX-License-Identifier: Apache-2.0
// Footprint's token, filter and ingress-rule parsers (core/template/footprint.hpp,
// filters.hpp), and the filters they yield applied to a fixed value. The first byte picks the
// parser and whether an x-fp-id is set; the rest is the text.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/template/footprint.hpp"
#include "core/util/strings.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

namespace {

void apply(const std::vector<tmpl::Filter>& filters) {
    for (const char* value : {"Jane Doè", "1988-12-30"}) {
        auto out = tmpl::apply_filters(filters, value);
        if (!out)
            FUZZ_EXPECT(out.error().code == "template.filter" || out.error().code == "template.internal");
    }
}

void check_filter(const tmpl::Filter& f) {
    FUZZ_EXPECT(!f.name().empty());
    std::string canonical = f.canonical();
    FUZZ_EXPECT(canonical.rfind(std::string(f.name()), 0) == 0);
    if (f.kind == tmpl::FilterKind::hmac_sha256)
        FUZZ_EXPECT(canonical.find("<scrubbed>") != std::string::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::uint8_t options = data[0];
    std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string global = (options & 8) ? "fp_id_test_jane" : "";

    switch (options & 3) {
    case 0: {
        auto token = tmpl::parse_footprint_token(text, global);
        // The explanation for people agrees with the parser: empty exactly when it parses.
        FUZZ_EXPECT(token.ok() == tmpl::explain_footprint_token(text, global).empty());
        if (token) {
            FUZZ_EXPECT(tmpl::is_valid_fp_id(token->fp_id));
            FUZZ_EXPECT(tmpl::is_valid_data_identifier(token->di));
            if (token->uses_global)
                FUZZ_EXPECT(!global.empty() && token->fp_id == global);
            (void)token->reference();
            for (const auto& f : token->filters)
                check_filter(f);
            apply(token->filters);
        } else {
            FUZZ_EXPECT(token.error().code == "template.syntax");
        }
        break;
    }
    case 1: {
        auto filter = tmpl::parse_filter(text);
        if (filter) {
            check_filter(*filter);
            apply({*filter});
        } else {
            FUZZ_EXPECT(filter.error().code == "template.syntax");
        }
        break;
    }
    case 2: {
        auto rule = tmpl::parse_ingress_rule(text, global);
        if (rule) {
            FUZZ_EXPECT(tmpl::is_valid_fp_id(rule->fp_id));
            FUZZ_EXPECT(tmpl::is_valid_data_identifier(rule->di));
            FUZZ_EXPECT(rule->path == util::trim(rule->path));
            apply(rule->filters);
        } else {
            FUZZ_EXPECT(rule.error().code == "template.syntax");
        }
        break;
    }
    case 3: {
        // A header value: every piece is trimmed and non-empty, and parses (or fails) alone.
        for (const auto& piece : tmpl::split_ingress_rule_header(text)) {
            FUZZ_EXPECT(!piece.empty() && piece == util::trim(piece));
            (void)tmpl::parse_ingress_rule(piece, global);
        }
        break;
    }
    }
    (void)tmpl::is_valid_fp_id(text);
    (void)tmpl::is_valid_data_identifier(text);
    return 0;
}
