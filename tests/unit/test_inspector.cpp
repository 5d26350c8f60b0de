// SPDX-License-Identifier: Apache-2.0
// The inspector without a server: masking (with the encodings a value can travel in), the ring,
// records (cuts, withheld bodies, credentials), the route maker, the HAR export (read back by
// replay's own HAR reader), the API's answers to bad requests.

#include <doctest/doctest.h>

#include <toml++/toml.h>

#include "core/inspector/inspector.hpp"
#include "core/profile/profile.hpp"
#include "core/replay/recording.hpp"
#include "core/util/strings.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using namespace vaultfwd::inspector;
using nlohmann::json;

namespace {

const std::string k_card = "4111111111111111";
const std::string k_name = "Zoë O'Brien & co/ltd \"x\"";

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::unique_ptr<Capture> capture_with(const std::string& body, http::Headers headers = {}) {
    auto c = std::make_unique<Capture>(1 << 20);
    c->client_request.present = true;
    c->client_request.start = "POST /vault_proxy/jit HTTP/1.1";
    c->client_request.headers = std::move(headers);
    c->keep(c->client_request, body);
    return c;
}

Facts facts(const std::string& listener = "api") {
    Facts f;
    f.listener = listener;
    f.dialect = "footprint";
    f.method = "POST";
    f.path = "/vault_proxy/jit";
    f.status = 200;
    f.time_ms = 1700000000123;
    return f;
}

} // namespace

TEST_SUITE("inspector") {

TEST_CASE("masking replaces every encoding of a value with its token") {
    Masker m(Pairs{{k_card, "{{ fp_id_1.card.number }}"}, {k_name, "{{ fp_id_1.id.full_name }}"}});
    SUBCASE("raw") {
        CHECK(m.mask("n=" + k_card + ";") == "n={{ fp_id_1.card.number }};");
    }
    SUBCASE("JSON-escaped, with \\u escapes and escaped slashes") {
        std::string escaped = json(k_name).dump();
        CHECK(m.mask("{\"name\":" + escaped + "}") == "{\"name\":\"{{ fp_id_1.id.full_name }}\"}");
        std::string ascii = json(k_name).dump(-1, ' ', true);
        CHECK(ascii.find("\\u00eb") != std::string::npos);
        CHECK(m.mask(ascii).find("ë") == std::string::npos);
        CHECK(m.mask(ascii).find("\\u00eb") == std::string::npos);
        CHECK(m.mask("Zo\\u00eb O'Brien & co\\/ltd \\\"x\\\"") == "{{ fp_id_1.id.full_name }}");
    }
    SUBCASE("percent- and form-encoded, either case of hex") {
        CHECK(m.mask("name=Zo%C3%AB%20O%27Brien%20%26%20co%2Fltd%20%22x%22") == "name={{ fp_id_1.id.full_name }}");
        CHECK(m.mask("name=Zo%c3%ab+O%27Brien+%26+co%2fltd+%22x%22") == "name={{ fp_id_1.id.full_name }}");
    }
    SUBCASE("leftmost-longest: a shorter value never cuts into a longer one") {
        Masker two(Pairs{{"1111", "{{ last4 }}"}, {k_card, "{{ card }}"}});
        CHECK(two.mask(k_card + " " + "1111") == "{{ card }} {{ last4 }}");
    }
    SUBCASE("a token put in place is not masked again") {
        Masker self(Pairs{{"12", "{{ fp_id_12.card.exp_month }}"}});
        CHECK(self.mask("m=12") == "m={{ fp_id_12.card.exp_month }}");
    }
    SUBCASE("no values: the text as it is") {
        CHECK(Masker().mask("abc") == "abc");
    }
}

TEST_CASE("records mask every message, hide credentials and withhold what cannot be scanned") {
    auto owned = capture_with("{\"card\":\"{{ fp_id_1.card.number }}\"}",
                             {{"Authorization", "Basic c2tfdGVzdDo="}, {"Content-Type", "application/json"}});
    Capture& c = *owned;
    c.secrets->add(k_card, "{{ fp_id_1.card.number }}");
    c.upstream_request.present = true;
    c.upstream_request.start = "POST /pay/" + k_card + "?card=" + k_card + "&hash=" + std::string(40, 'a') + " HTTP/1.1";
    c.upstream_request.headers = {{"X-Card", k_card}};
    c.keep(c.upstream_request, "{\"card\":\"" + k_card + "\"}");
    c.upstream_response.present = true;
    c.upstream_response.start = "HTTP/1.1 201 Created";
    c.upstream_response.headers = {{"Content-Encoding", "gzip"}};
    c.keep(c.upstream_response, std::string("\x1f\x8b binary ") + k_card);
    c.client_response.present = true;
    c.client_response.start = "HTTP/1.1 201 Created";
    c.keep(c.client_response, std::string("\xff\xfe") + k_card);
    Record r = make_record(c, facts(), 65536);
    json d = detail_json(r);
    std::string all = d.dump();
    CHECK(all.find(k_card) == std::string::npos);
    CHECK(all.find("c2tfdGVzdDo") == std::string::npos);
    CHECK(d["upstream_request"]["body"] == "{\"card\":\"{{ fp_id_1.card.number }}\"}");
    // Query values are shown as "*" (long hex identifiers stay), the path masked.
    CHECK(d["upstream_request"]["start"] ==
          "POST /pay/{{ fp_id_1.card.number }}?card=*&hash=" + std::string(40, 'a') + " HTTP/1.1");
    CHECK(d["upstream_status"] == 201);
    CHECK(d["upstream_response"]["body"] == "");
    CHECK(d["upstream_response"]["note"].get<std::string>().find("gzip-encoded") != std::string::npos);
    CHECK(d["client_response"]["note"].get<std::string>().find("not UTF-8") != std::string::npos);
    CHECK(d["withheld"] == true);
    CHECK(d["masks"] == json::array({"{{ fp_id_1.card.number }}"}));
    CHECK(d["filters"].empty());
    CHECK(d["client_request"]["headers"][0][1] == "[hidden]");
    // The re-send keeps the credential as the client sent it, never shown.
    CHECK(r.resend.headers[0].value == "Basic c2tfdGVzdDo=");
}

TEST_CASE("paths: digit runs a client put in clear are redacted, hex identifiers kept") {
    auto owned = capture_with("");
    Capture& c = *owned;
    const std::string id = "165e3d1234567896673c11cc92c7891c"; // a VTEX transaction id: 9 digits in a row
    c.client_request.start = "POST /payment-provider/transactions/" + id + "/lookup/078051120?hash=" + id +
                             "&ssn=078051120 HTTP/1.1";
    Facts f = facts();
    f.path = "/payment-provider/transactions/" + id + "/lookup/078051120";
    Record r = make_record(c, f, 1000);
    CHECK(r.path.find(id) != std::string::npos);
    CHECK(r.path.find("078051120") == std::string::npos);
    CHECK(r.client_request.start.find("/transactions/" + id + "/") != std::string::npos);
    CHECK(r.client_request.start.find("?hash=" + id + "&ssn=* ") != std::string::npos);
    CHECK(r.client_request.start.find("078051120") == std::string::npos);
}

TEST_CASE("bodies are masked whole, then cut with a note; over the capture limit they are not kept") {
    std::string body(1000, 'a');
    body.replace(990, k_card.size() - 6, k_card.substr(0, 10)); // no value
    body += k_card;                                             // a value across the cut
    auto owned = capture_with(body);
    Capture& c = *owned;
    c.secrets->add(k_card, "tok_sandbox_x");
    Record r = make_record(c, facts(), 995);
    CHECK(r.client_request.body.size() == 995);
    CHECK(r.client_request.note.find("cut: the first 995 of") != std::string::npos);
    CHECK(r.client_request.body.find("411111") == std::string::npos);

    Capture big(100);
    big.client_request.present = true;
    big.keep(big.client_request, std::string(101, 'x'));
    Record rb = make_record(big, facts(), 1000);
    CHECK(rb.client_request.body.empty());
    CHECK(rb.client_request.note.find("capture limit of 100 bytes") != std::string::npos);
    CHECK(rb.withheld);
}

TEST_CASE("a streamed body is copied up to the limit, and withheld past it or when cut short") {
    struct Pieces final : http::BodySource {
        std::vector<std::string> pieces;
        std::size_t at = 0;
        bool fail = false;
        std::string code = "upstream.io", none;
        Step next(std::string& out) override {
            if (at < pieces.size()) {
                out += pieces[at++];
                return Step::piece;
            }
            return fail ? Step::failed : Step::end;
        }
        std::optional<std::uint64_t> length() const override { return std::nullopt; }
        const std::string& error_code() const override { return code; }
        const std::string& error_message() const override { return none; }
    };
    auto run = [](std::vector<std::string> pieces, bool fail, std::size_t limit) {
        auto src = std::make_shared<Pieces>();
        src->pieces = std::move(pieces);
        src->fail = fail;
        auto cap = std::make_shared<Capture>(limit);
        cap->upstream_response.present = true;
        cap->upstream_response.streamed = true;
        TeeSource tee(src, cap, &Capture::upstream_response);
        std::string relayed, piece;
        for (;;) {
            piece.clear();
            auto step = tee.next(piece);
            relayed += piece;
            if (step != http::BodySource::Step::piece)
                break;
        }
        return std::make_pair(relayed, make_record(*cap, facts(), 1 << 20).upstream_response);
    };
    auto [all, shown] = run({"ab", "cd"}, false, 10);
    CHECK(all == "abcd");
    CHECK(shown.body == "abcd");
    CHECK(shown.note.empty());
    auto [all2, over] = run({"abcdef", "ghijkl"}, false, 10);
    CHECK(all2 == "abcdefghijkl"); // the relay is untouched
    CHECK(over.body.empty());
    CHECK(over.note.find("capture limit") != std::string::npos);
    CHECK(over.body_bytes == 12);
    auto [all3, broken] = run({"abc"}, true, 10);
    CHECK(all3 == "abc");
    CHECK(broken.body.empty());
    CHECK(broken.note.find("broke off") != std::string::npos);
}

TEST_CASE("the ring keeps the last N with growing ids") {
    Ring ring(3);
    for (int i = 0; i < 5; ++i) {
        Record r;
        r.dialect = i % 2 ? "gr4vy" : "footprint";
        r.status = 200 + i;
        ring.push(std::move(r));
    }
    CHECK(ring.size() == 3);
    CHECK(ring.last_id() == 5);
    CHECK(ring.find(2) == nullptr);
    REQUIRE(ring.find(3) != nullptr);
    CHECK(ring.find(3)->status == 202);
    auto since = ring.since(3);
    REQUIRE(since.size() == 2);
    CHECK(since[0]->id == 4);
    auto fp = ring.since(0, [](const Record& r) { return r.dialect == "footprint"; });
    REQUIRE(fp.size() == 2);
    CHECK(fp[1]->id == 5);
}

TEST_CASE("latency: p50 and p99 per dialect per bucket, old samples left out") {
    Latency lat;
    for (int i = 1; i <= 100; ++i)
        lat.add("gr4vy", 1000000 + i, i);
    lat.add("vgs", 100, 5); // outside the window
    json j = lat.json(1010000, 300000, 10000);
    REQUIRE(j["dialects"].contains("gr4vy"));
    CHECK_FALSE(j["dialects"].contains("vgs"));
    auto pt = j["dialects"]["gr4vy"][0];
    CHECK(pt["n"] == 100);
    CHECK(pt["p50"] == 50.0);
    CHECK(pt["p99"] == 99.0);
}

TEST_CASE("the route maker makes [[routes]] a profile accepts") {
    auto owned = capture_with("{\"card\":{\"number\":\"tok_sandbox_abc\"}}", {{"Host", "api.psp.example"}});
    Capture& c = *owned;
    Facts f = facts("proxy");
    f.dialect = "vgs";
    f.path = "/v1/charges";
    f.tunnel_host = "api.psp.example";
    f.tunnel_port = 443;
    f.tunnel_tls = true;
    Record r = make_record(c, f, 65536);
    r.id = 7;
    SUBCASE("outbound reveal of a JSON field and a header") {
        RouteSpec spec;
        spec.json_paths = {"$.card.number"};
        spec.headers = {"x-card"};
        auto route = make_route(r, spec);
        REQUIRE(route.ok());
        std::string text = route_text(*route);
        INFO(text);
        CHECK(text.find("[[routes]]") != std::string::npos);
        toml::table back = toml::parse(text);
        const auto& entry = *back["routes"][0].as_table();
        CHECK(entry["id"].value_or(std::string()) == "inspector-7");
        CHECK(entry["host"].value_or(std::string()) == "api\\.psp\\.example");
        CHECK(entry["filters"][0]["transformer"].value_or(std::string()) == "json_path");
        CHECK(entry["filters"][1]["transformer"].value_or(std::string()) == "header");
        CHECK(entry["filters"][1]["targets"][0].value_or(std::string()) == "x-card");
        // A profile with it parses, and the route is what was asked.
        test::TempDir home;
        auto base = test::run_vaultfwd({"--home", home.path().string(), "init"});
        REQUIRE(base.exit_code == 0);
        auto file = home.path() / "default.toml";
        std::string profile_text = test::read_text(file) + "\n" + text;
        auto parsed = profile::parse(profile_text, file, home.path(), "default");
        REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().describe()));
        REQUIRE(parsed->routes.size() == 1);
        CHECK(parsed->routes[0].direction == "outbound");
        CHECK(parsed->routes[0].filters.size() == 2);
        CHECK(parsed->routes[0].filters[0].targets == std::vector<std::string>{"$.card.number"});
        CHECK(parsed->routes[0].path == "\\/v1\\/charges");
    }
    SUBCASE("inbound redact of a form field, response-phase fields from the upstream's answer") {
        auto in = capture_with("card_number=4111111111111111&name=x",
                               {{"Host", "collect.example.test:7412"},
                                {"Content-Type", "application/x-www-form-urlencoded"}});
        in->secrets->add("4111111111111111", "tok_sandbox_card");
        in->upstream_url = "https://api.customer.example:8443/collect";
        in->upstream_response.present = true;
        in->upstream_response.start = "HTTP/1.1 200 OK";
        in->upstream_response.headers = {{"Content-Type", "application/json"}};
        in->keep(in->upstream_response, "{\"account\":{\"iban\":\"DE89\"},\"list\":[{\"a b\":1}]}");
        Facts fi = facts("inbound");
        fi.dialect = "vgs-inbound";
        fi.path = "/collect";
        Record ri = make_record(*in, fi, 65536);
        ri.id = 9;
        CHECK(fields_of(ri.client_request).form_fields == std::vector<std::string>{"card_number", "name"});
        CHECK(fields_of(ri.upstream_response).json_paths ==
              std::vector<std::string>{"$.account.iban", "$.list[0][\"a b\"]"});
        RouteSpec spec;
        spec.operation = "redact";
        spec.format = "FPE_SIX_T_FOUR";
        spec.form_fields = {"card_number"};
        auto route = make_route(ri, spec);
        REQUIRE(route.ok());
        toml::table back = toml::parse(route_text(*route));
        const auto& entry = *back["routes"][0].as_table();
        CHECK(entry["direction"].value_or(std::string()) == "inbound");
        CHECK(entry["host"].value_or(std::string()) == "collect\\.example\\.test");
        CHECK(entry["upstream"].value_or(std::string()) == "https://api.customer.example:8443");
        CHECK(entry["filters"][0]["transformer"].value_or(std::string()) == "form_field");
        CHECK(entry["filters"][0]["format"].value_or(std::string()) == "FPE_SIX_T_FOUR");
        RouteSpec response;
        response.phase = "response";
        response.json_paths = {"$.account.iban"};
        auto out = make_route(ri, response);
        REQUIRE(out.ok());
        toml::table rb = toml::parse(route_text(*out));
        CHECK((*rb["routes"][0].as_table())["filters"][0]["phase"].value_or(std::string()) == "response");
    }
    SUBCASE("bad asks are clear errors") {
        RouteSpec none;
        CHECK(make_route(r, none).error().message.find("pick at least one") != std::string::npos);
        RouteSpec fmt;
        fmt.operation = "redact";
        fmt.format = "NOPE";
        fmt.json_paths = {"$.a"};
        CHECK(make_route(r, fmt).error().message.find("not an alias format") != std::string::npos);
        RouteSpec phase;
        phase.phase = "later";
        phase.json_paths = {"$.a"};
        CHECK(make_route(r, phase).error().code == "inspector.bad_route");
        Record api = r;
        api.listener = "api";
        RouteSpec ok;
        ok.json_paths = {"$.a"};
        CHECK(make_route(api, ok).error().message.find("forward-proxy or inbound") != std::string::npos);
    }
    SUBCASE("the fields a route can pick") {
        Fields fields = fields_of(r.client_request);
        CHECK(fields.json_paths == std::vector<std::string>{"$.card.number"});
    }
}

TEST_CASE("the HAR export is masked and replay reads it") {
    auto owned = capture_with("{\"n\":\"{{ fp_id_1.card.number }}\"}",
                             {{"Authorization", "Basic c2tfdGVzdDo="}, {"Content-Type", "application/json"},
                              {"x-fp-proxy-target-url", "https://psp.example/pay"}});
    Capture& c = *owned;
    c.secrets->add(k_card, "{{ fp_id_1.card.number }}");
    c.client_response.present = true;
    c.client_response.start = "HTTP/1.1 200 OK";
    c.keep(c.client_response, "{\"echo\":\"" + k_card + "\"}");
    Record r = make_record(c, facts(), 65536);
    r.id = 1;
    json h = har({&r}, "http://127.0.0.1:7410");
    std::string text = h.dump();
    CHECK(text.find(k_card) == std::string::npos);
    CHECK(text.find("c2tfdGVzdDo") == std::string::npos);
    auto recs = replay::parse_har(text, "inspector.har");
    REQUIRE_MESSAGE(recs.ok(), (recs.ok() ? "" : recs.error().describe()));
    REQUIRE(recs->size() == 1);
    CHECK((*recs)[0].method == "POST");
    CHECK((*recs)[0].target == "http://127.0.0.1:7410/vault_proxy/jit");
    CHECK((*recs)[0].body == "{\"n\":\"{{ fp_id_1.card.number }}\"}");
}

TEST_CASE("the profile's [inspector] table: defaults, values, mistakes named") {
    test::TempDir home;
    REQUIRE(test::run_vaultfwd({"--home", home.path().string(), "init"}).exit_code == 0);
    const auto file = home.path() / "default.toml";
    const std::string base = test::read_text(file);
    auto parse = [&](const std::string& extra) { return profile::parse(base + extra, file, home.path(), "default"); };
    auto plain = parse("");
    REQUIRE(plain.ok());
    CHECK_FALSE(plain->inspector.enabled);
    CHECK(plain->inspector.exchanges == 200);
    CHECK(plain->inspector.max_body_bytes == 65536);
    auto set = parse("\n[inspector]\nenabled = true\nexchanges = 5\nmax_body_bytes = 1000\n");
    REQUIRE(set.ok());
    CHECK(set->inspector.enabled);
    CHECK(set->inspector.exchanges == 5);
    CHECK(set->inspector.max_body_bytes == 1000);
    auto zero = parse("\n[inspector]\nexchanges = 0\n");
    REQUIRE_FALSE(zero.ok());
    CHECK(zero.error().message.find("inspector.exchanges") != std::string::npos);
    auto typo = parse("\n[inspector]\nexchange = 5\n");
    REQUIRE_FALSE(typo.ok());
    CHECK(typo.error().message.find("did you mean \"inspector.exchanges\"") != std::string::npos);
    test::write_text(file, base + "\n[inspector]\nenabled = true\n");
    auto show = test::run_vaultfwd({"--home", home.path().string(), "--json", "config", "show"});
    REQUIRE(show.exit_code == 0);
    CHECK(json::parse(show.out)["inspector"]["enabled"] == true);
}

TEST_CASE("the API refuses without credentials and answers bad requests with JSON errors") {
    test::TempDir home;
    REQUIRE(test::run_vaultfwd({"--home", home.path().string(), "init"}).exit_code == 0);
    auto profile = profile::load(home.path(), "default");
    REQUIRE(profile.ok());
    Settings s;
    s.enabled = true;
    Inspector insp(s, *profile, "tok123");
    auto get = [&](const std::string& path, const std::string& query, const std::string& auth,
                   const std::string& method = "GET", const std::string& body = "") {
        http::Request r;
        r.method = method;
        r.path = path;
        r.query = query;
        if (!auth.empty())
            r.headers.push_back({"Authorization", auth});
        r.body = body;
        return insp.handle(r);
    };
    auto code_of = [](const http::Response& res) {
        return json::parse(res.body)["error"]["code"].get<std::string>();
    };
    CHECK(get("/_inspector/api/exchanges", "", "").status == 401);
    CHECK(code_of(get("/_inspector/api/exchanges", "", "")) == "inspector.unauthorized");
    CHECK(get("/_inspector/api/exchanges", "", "Bearer wrong").status == 401);
    CHECK(get("/_inspector/api/exchanges", "token=tok12", "").status == 401);
    CHECK(get("/_inspector/api/exchanges", "", "Bearer tok123").status == 200);
    CHECK(get("/_inspector/api/exchanges", "token=tok123", "").status == 200);
    CHECK(get("/_inspector/api/exchanges", "", "Basic " + util::base64_encode(profile->api_keys[0].key + ":")).status == 200);
    CHECK(get("/_inspector/", "token=tok123", "").headers[0].value.find("text/html") == 0);
    CHECK(get("/_inspector", "token=tok123", "").status == 308);
    const std::string t = "Bearer tok123";
    CHECK(code_of(get("/_inspector/api/exchanges/abc", "", t)) == "inspector.bad_id");
    CHECK(code_of(get("/_inspector/api/exchanges/99", "", t)) == "inspector.unknown_exchange");
    CHECK(get("/_inspector/api/exchanges/99", "", t).status == 404);
    CHECK(code_of(get("/_inspector/api/exchanges", "status=abc", t)) == "inspector.bad_filter");
    CHECK(code_of(get("/_inspector/api/exchanges", "after=-1", t)) == "inspector.bad_query");
    CHECK(code_of(get("/_inspector/api/nothing", "", t)) == "inspector.not_found");
    CHECK(get("/_inspector/api/exchanges", "", t, "DELETE").status == 405);
    CHECK(get("/_inspector/api/har", "", t).status == 200);
    CHECK(json::parse(get("/_inspector/api/har", "", t).body)["log"]["entries"].empty());
    Settings off;
    Inspector disabled(off, *profile, "x");
    http::Request r;
    r.method = "GET";
    r.path = "/_inspector/";
    CHECK(disabled.handle(r).status == 404);
}

} // TEST_SUITE
