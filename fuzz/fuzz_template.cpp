// SPDX-License-Identifier: Apache-2.0
// The template renderer, every dialect, over a MemorySource. The first byte picks the options
// (dialect, mode, x-fp-id, a restricted key, a VTEX payment); the rest is the body.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/template/render.hpp"
#include "core/util/strings.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

namespace {

const vault::MemorySource& source() {
    static const vault::MemorySource s = [] {
        vault::MemorySource m;
        const char* fp = "fp_id_test_jane";
        m.set(fp, "id.first_name", "Jane");
        m.set(fp, "id.last_name", "Doè");
        m.set(fp, "id.dob", "1988-12-30");
        m.set(fp, "id.ssn9", "123456789");
        m.set(fp, "custom.ach_account", "12-1212-1212");
        m.set(fp, "card.primary.name", "Jane Doè");
        m.set(fp, "card.primary.number", "4242424242424242");
        m.set(fp, "custom.bytes", std::string("\xff\xfe\0x", 4)); // not UTF-8
        m.set("pm_1", "card.number", "4111111111111111");
        m.set("pm_1", "card.exp_month", "02");
        m.set("pm_1", "card.exp_year", "2028");
        m.set("pm_2", "card.number", "5555444433331111");
        m.set("pm_2", "card.exp_month", "1");   // malformed month on purpose
        m.set("pm_2", "card.exp_year", "31");   // malformed year on purpose
        m.set("vtex_d799bae", "number", "5555444433331111");
        m.set("vtex_d799bae", "holder", "JOHN DOE");
        m.set("vtex_d799bae", "csc", "123");
        return m;
    }();
    return s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::uint8_t options = data[0];
    std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);

    tmpl::RenderRequest req;
    static const tmpl::Dialect k_dialects[] = {tmpl::Dialect::footprint, tmpl::Dialect::gr4vy,
                                               tmpl::Dialect::vtex, tmpl::Dialect::automatic};
    req.dialect = k_dialects[options & 3];
    req.mode = (options & 4) ? tmpl::RenderMode::check : tmpl::RenderMode::render;
    if (options & 8)
        req.global_fp_id = "fp_id_test_jane";
    if (options & 16)
        req.may_reveal = [](std::string_view di) { return di.rfind("id.", 0) == 0 || di == "number"; };
    if (options & 32)
        req.vtex_payment = "d799bae";
    if (options & 64)
        req.max_problems = 3;
    req.payment_methods = {"pm_1", "pm_2", "pm_missing"};
    req.body = body;
    req.source = &source();

    auto scanned = tmpl::scan(req.dialect, body);
    std::size_t previous_end = 0;
    for (const auto& t : scanned.tokens) {
        FUZZ_EXPECT(t.begin < t.end && t.end <= body.size());
        FUZZ_EXPECT(t.begin >= previous_end);
        FUZZ_EXPECT(t.text == std::string_view(body).substr(t.begin, t.end - t.begin));
        FUZZ_EXPECT(t.line >= 1 && t.column >= 1);
        previous_end = t.end;
    }
    for (const auto& p : scanned.problems)
        FUZZ_EXPECT(p.offset <= body.size() && !p.code.empty());

    auto out = tmpl::render(req);
    FUZZ_EXPECT(out.ok == (out.problem_count == 0));
    FUZZ_EXPECT(out.problems.size() <= out.problem_count);
    FUZZ_EXPECT(out.problems.size() <= req.max_problems);
    int status = tmpl::http_status(out);
    FUZZ_EXPECT(status == 200 || status == 400 || status == 403 || status == 500);
    FUZZ_EXPECT(out.ok == (status == 200));
    for (const auto& p : out.problems) {
        FUZZ_EXPECT(!p.code.empty() && p.code.rfind("template.", 0) == 0);
        FUZZ_EXPECT(p.offset <= body.size());
        FUZZ_EXPECT(p.token.size() <= 200 + 4); // "at most 200 bytes" (slack for a UTF-8 cut)
    }
    // Messages never hold a vaulted value (unless the body itself spelled it out).
    static const char* k_secrets[] = {"123456789", "4242424242424242", "12-1212-1212",
                                      "5555444433331111", "4111111111111111", "JOHN DOE", "Doè"};
    std::string told = tmpl::footprint_error_message(out);
    for (const auto& p : out.problems)
        told += "\n" + p.message + "\n" + p.token + "\n" + p.reference;
    for (const auto& w : out.warnings)
        told += "\n" + w.message + "\n" + w.token;
    for (const char* secret : k_secrets)
        if (body.find(secret) == std::string::npos)
            FUZZ_EXPECT(told.find(secret) == std::string::npos);
    if (out.ok && req.mode == tmpl::RenderMode::render) {
        // Fail closed means: with no token found, the body goes out byte for byte.
        if (out.token_count == 0)
            FUZZ_EXPECT(out.body == body);
        FUZZ_EXPECT(util::is_valid_utf8(body));
    }
    if (!out.ok)
        FUZZ_EXPECT(out.body.empty());
    return 0;
}
