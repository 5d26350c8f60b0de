// SPDX-License-Identifier: Apache-2.0
// JsonLogic evaluation with VTEX's operators. The input is the logic (JSON), a NUL (or newline),
// and the data (JSON). Evaluation must end in a value or a jsonlogic.* error, within its limits.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/jsonlogic/jsonlogic.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto [logic_text, data_text] = fuzz::split_two(input);
    json logic = json::parse(logic_text, nullptr, false);
    if (logic.is_discarded())
        return 0;
    json doc = json::parse(data_text, nullptr, false);
    if (doc.is_discarded())
        doc = json::parse(R"({"a":1,"b":[1,2,3],"c":{"d":"x"},"s":"#vtex#token#d799bae#number#"})");

    jsonlogic::Options options;
    options.replace_tokens = [](const std::string& text) -> Result<std::string> {
        if (text.find("#vtex#nope") != std::string::npos)
            return make_error("vtex.unknown_token", "token is unknown");
        std::string out;
        for (std::size_t i = 0; i < text.size() && i < 64; ++i)
            out += text[i] == '#' ? '4' : text[i];
        return out;
    };
    options.log = [](const json&) {};
    options.max_work = 200'000; // keeps each input fast; the default only scales this
    auto result = jsonlogic::evaluate(logic, doc, options);
    if (result) {
        (void)result->dump(-1, ' ', false, json::error_handler_t::replace);
        (void)jsonlogic::to_js_string(*result);
        (void)jsonlogic::truthy(*result);
        FUZZ_EXPECT(!result->is_number_float() || std::isfinite(result->get<double>()));
    } else {
        const auto& code = result.error().code;
        FUZZ_EXPECT(code.rfind("jsonlogic.", 0) == 0 || code == "vtex.unknown_token");
    }
    (void)jsonlogic::to_js_string(doc);
    return 0;
}
