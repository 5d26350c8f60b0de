// SPDX-License-Identifier: Apache-2.0
// The forward proxy's request filters (core/dialect/vgs/filters.hpp) on hostile messages: what a
// client sends through HTTPS_PROXY reaches apply_filters as it is. The first byte picks the
// filter (JSONPath, form field, regex with VGS groups, header) and whether unknown aliases pass;
// the rest is a header value and a body (split at the first NUL, or newline), where "@1", "@2"
// and "@3" stand for aliases the vault knows (the fuzzer cannot guess them).
//
// Contracts, the forward proxy's promises: never a half-revealed message (a failure leaves the
// headers and the body exactly as they were); nothing changes when nothing was revealed; an
// error has a vgs./vault. code and never quotes a vault value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/dialect/vgs/filters.hpp"
#include "core/dialect/vgs/routes.hpp"
#include "core/vault/store.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;
using namespace vaultfwd::dialect;

namespace {

const std::vector<std::string> k_values = {"4111111111111111", "123-45-6789", "Jane \"Q\" Doè"};

struct World {
    std::filesystem::path dir;
    std::unique_ptr<vault::Store> store;
    std::vector<std::string> aliases; // of k_values, in the order of "@1", "@2", "@3"
    std::vector<vgs::RouteTable> tables;
};
World* g_world = nullptr;

profile::RouteFilter reveal(const std::string& transformer, std::vector<std::string> targets,
                            const std::string& pattern = {}, const std::string& replacement = "%s") {
    profile::RouteFilter f;
    f.transformer = transformer;
    f.targets = std::move(targets);
    f.pattern = pattern;
    f.replacement = replacement;
    return f;
}

// One route table per filter kind, and each again with on_unknown_alias = "pass".
std::vector<vgs::RouteTable> make_tables() {
    const std::vector<profile::RouteFilter> filters = {
        reveal("json_path", {"$.account_number", "$..card", "$.items[*].n"}),
        reveal("form_field", {"card", "ssn"}),
        reveal("regex", {}, R"((?<token>tok_sandbox_[1-9A-HJ-NP-Za-km-z]+))"),
        reveal("regex", {}, R"((?<prefix>card=)(?<token>[^&\s]+)(?<suffix>&?))", "${prefix}%s${suffix}"),
        reveal("header", {"x-card"}),
        reveal("header", {"authorization"}, R"(Bearer (?<token>\S+))"),
    };
    std::vector<vgs::RouteTable> tables;
    for (const char* on_unknown : {"fail", "pass"}) {
        for (const auto& f : filters) {
            profile::Route route;
            route.id = "fuzz";
            route.filters = {f};
            route.filters[0].on_unknown_alias = on_unknown;
            auto table = vgs::RouteTable::compile({route});
            if (!table) {
                std::fprintf(stderr, "fuzz_vgs: %s\n", table.error().message.c_str());
                std::abort();
            }
            tables.push_back(std::move(*table));
        }
    }
    return tables;
}

std::string expand(std::string_view text, const std::vector<std::string>& aliases) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '@' && i + 1 < text.size() && text[i + 1] >= '1' && text[i + 1] <= '3') {
            out += aliases[static_cast<std::size_t>(text[i + 1] - '1')];
            ++i;
        } else {
            out += text[i];
        }
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_world = new World;
    char tmpl[] = "/tmp/vaultfwd-fuzz-vgs-XXXXXX";
    if (!::mkdtemp(tmpl))
        std::abort();
    g_world->dir = tmpl;
    std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(g_world->dir, ec);
    });
    auto store = vault::Store::open(g_world->dir / "vault", std::string(32, 'k'));
    if (!store)
        std::abort();
    g_world->store = std::move(*store);
    const vault::AliasFormat formats[] = {vault::AliasFormat::uuid, vault::AliasFormat::raw_uuid,
                                          vault::AliasFormat::uuid};
    for (std::size_t i = 0; i < k_values.size(); ++i) {
        auto alias = g_world->store->alias(k_values[i], formats[i]);
        if (!alias)
            std::abort();
        g_world->aliases.push_back(*alias);
    }
    g_world->tables = make_tables();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    World& w = *g_world;
    const auto& table = w.tables[data[0] % w.tables.size()];
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto [header_text, body_text] = fuzz::split_two(input);

    const std::string content_type = (data[0] & 0x80) ? "application/x-www-form-urlencoded" : "application/json";
    const http::Headers headers_in = {{"Content-Type", content_type},
                                      {"X-Card", expand(header_text, w.aliases)},
                                      {"Authorization", "Bearer " + expand(header_text, w.aliases)}};
    const std::string body_in = expand(body_text, w.aliases);
    vgs::RequestInfo info{"127.0.0.1", "POST", "/post", content_type};
    auto match = table.match(info, vgs::Phase::request);
    FUZZ_EXPECT(match.route != nullptr);

    http::Headers headers = headers_in;
    std::string body = body_in;
    auto applied = vgs::apply_filters(match.filters, vgs::Phase::request, headers, body, *w.store);
    if (!applied) {
        const auto& e = applied.error();
        FUZZ_EXPECT(e.code.rfind("vgs.", 0) == 0 || e.code.rfind("vault.", 0) == 0);
        FUZZ_EXPECT(body == body_in);
        FUZZ_EXPECT(headers.size() == headers_in.size());
        for (std::size_t i = 0; i < headers.size(); ++i)
            FUZZ_EXPECT(headers[i].name == headers_in[i].name && headers[i].value == headers_in[i].value);
        for (const auto& v : k_values) // unless the client itself wrote the value
            if (input.find(v) == std::string_view::npos)
                FUZZ_EXPECT(e.message.find(v) == std::string::npos);
        return 0;
    }
    if (applied->revealed == 0) {
        FUZZ_EXPECT(body == body_in);
        for (std::size_t i = 0; i < headers.size(); ++i)
            FUZZ_EXPECT(headers[i].value == headers_in[i].value);
    }
    FUZZ_EXPECT(applied->redacted == 0);
    return 0;
}
