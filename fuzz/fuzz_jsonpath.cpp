// SPDX-License-Identifier: Apache-2.0
// The JSONPath compiler and evaluator. The input is a query, a NUL (or newline), and a JSON
// document; every selected node's normalized path must compile to a singular query that selects
// that node again (RFC 9535 §2.7).

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/jsonpath/jsonpath.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto [query_text, doc_text] = fuzz::split_two(input);
    auto query = jsonpath::compile(query_text);
    if (!query) {
        FUZZ_EXPECT(query.error().code == "jsonpath.syntax");
        FUZZ_EXPECT(query.error().line >= 1 && query.error().column >= 1);
        return 0;
    }
    FUZZ_EXPECT(query->text() == query_text);
    json doc = json::parse(doc_text, nullptr, false);
    if (doc.is_discarded())
        doc = json::parse(R"({"a":[1,{"b":"x"},[2,3]],"c":{"d":null,"e":true},"":0})");

    auto nodes = jsonpath::select(*query, doc);
    if (query->is_singular())
        FUZZ_EXPECT(nodes.size() <= 1);
    std::set<std::string> distinct;
    for (std::size_t i = 0; i < nodes.size() && i < 64; ++i) {
        const auto& node = nodes[i];
        FUZZ_EXPECT(node.value != nullptr);
        FUZZ_EXPECT(!node.path.empty() && node.path[0] == '$');
        distinct.insert(node.path);
        auto again = jsonpath::compile(node.path);
        FUZZ_EXPECT(again.ok());
        FUZZ_EXPECT(again->is_singular());
        auto back = jsonpath::select(*again, doc);
        FUZZ_EXPECT(back.size() == 1);
        FUZZ_EXPECT(back[0].value == node.value);
        FUZZ_EXPECT(back[0].path == node.path);
    }
    if (nodes.size() <= 64) {
        json copy = doc;
        std::size_t calls = 0;
        auto replaced = jsonpath::replace(*query, copy, [&](const json&, const std::string& path) -> std::optional<json> {
            ++calls;
            FUZZ_EXPECT(distinct.count(path) == 1);
            return json("*");
        });
        FUZZ_EXPECT(replaced == distinct.size());
        FUZZ_EXPECT(calls == distinct.size());
    }
    return 0;
}
