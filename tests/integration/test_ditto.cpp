// SPDX-License-Identifier: Apache-2.0
// `vaultfwd ditto` as a user runs it: the built binary, real curl, real openssl.
#include <doctest/doctest.h>

#include <csignal>

#include <nlohmann/json.hpp>

#include "core/tls/cert.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using test::run_program;
using test::run_vaultfwd;

namespace {

// Hex (as `openssl x509 -serial` prints it) to decimal, by long multiplication.
std::string hex_to_decimal(const std::string& hex) {
    std::string dec = "0";
    for (char h : hex) {
        int digit =
            std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : std::toupper(h) - 'A' + 10;
        int carry = digit;
        for (auto it = dec.rbegin(); it != dec.rend(); ++it) {
            int v = (*it - '0') * 16 + carry;
            *it = static_cast<char>('0' + v % 10);
            carry = v / 10;
        }
        while (carry) {
            dec.insert(dec.begin(), static_cast<char>('0' + carry % 10));
            carry /= 10;
        }
    }
    auto nz = dec.find_first_not_of('0');
    return nz == std::string::npos ? "0" : dec.substr(nz);
}

// A ditto subprocess (stderr dropped) and the addresses it printed.
struct Ditto {
    std::unique_ptr<test::Process> process;
    std::string http;
    std::string https;

    explicit Ditto(const std::vector<std::string>& args, int listeners = 2) {
        std::string cmd = "exec '" + test::binary_path() + "'";
        for (const auto& a : args)
            cmd += " '" + a + "'";
        cmd += " 2>/dev/null";
        process = std::make_unique<test::Process>(std::vector<std::string>{"sh", "-c", cmd});
        for (int i = 0; i < listeners; ++i) {
            auto line = process->read_line(20000);
            const std::string prefix = "ditto listening on ";
            if (line.rfind(prefix + "http://", 0) == 0)
                http = line.substr(prefix.size());
            else if (line.rfind(prefix + "https://", 0) == 0)
                https = line.substr(prefix.size());
        }
    }
};

// curl's output split into the header block and the body (`curl -i`).
struct Answer {
    int exit_code = -1;
    std::string head;
    std::string body;
};

Answer curl(std::vector<std::string> args) {
    std::vector<std::string> argv{"curl", "-s", "-i", "--max-time", "10"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_program(argv);
    Answer a;
    a.exit_code = r.exit_code;
    auto split = r.out.find("\r\n\r\n");
    if (split != std::string::npos) {
        a.head = r.out.substr(0, split);
        a.body = r.out.substr(split + 4);
    }
    return a;
}

// The seed's request: curl -X POST URL -H 'Test-Header: FootprintRocks' --data '{"hello":
// "world" }', without the User-Agent and Accept headers the seed's transcript does not show.
std::vector<std::string> seed_request(const std::string& url) {
    return {"-X",          "POST", url,       "-H",     "Test-Header: FootprintRocks", "-H",
            "User-Agent:", "-H",   "Accept:", "--data", R"({"hello": "world" })"};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

struct Home {
    test::TempDir dir;
    std::string ca;
    Home() {
        auto r = run_vaultfwd({"--home", dir.path().string(), "init"});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        ca = (dir.path() / "default" / "ca.pem").string();
    }
    std::string home() const { return dir.path().string(); }
    // A client certificate from `vaultfwd cert issue`; returns {cert, key}.
    std::pair<std::string, std::string> client(const std::string& cn) const {
        auto r = run_vaultfwd({"--home", home(), "cert", "issue", "--cn", cn, "--out-dir",
                               (dir.path() / "clients").string()});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        return {(dir.path() / "clients" / (cn + ".pem")).string(),
                (dir.path() / "clients" / (cn + ".key")).string()};
    }
};

std::string openssl_serial_decimal(const std::string& cert_file) {
    auto r = run_program({"openssl", "x509", "-in", cert_file, "-serial", "-noout"});
    REQUIRE(r.exit_code == 0);
    auto line = std::string(r.out.substr(0, r.out.find('\n')));
    REQUIRE(line.rfind("serial=", 0) == 0);
    return hex_to_decimal(line.substr(7));
}

} // namespace

TEST_SUITE("ditto") {
    TEST_CASE("hex_to_decimal (test helper)") {
        CHECK(hex_to_decimal("FF") == "255");
        CHECK(hex_to_decimal("AC846BADF5CF3194") == "12431179266346922388");
    }

    TEST_CASE("the answer is the seed's byte for byte, over HTTP and over HTTPS without a "
              "client certificate") {
        auto answers = test::footprint_seed_answers();
        REQUIRE(answers.size() == 2);
        Home h;
        Ditto d({"--home", h.home(), "ditto"});
        REQUIRE(d.http.rfind("http://127.0.0.1:", 0) == 0);
        REQUIRE(d.https.rfind("https://127.0.0.1:", 0) == 0);

        auto plain = curl(seed_request(d.http));
        REQUIRE(plain.exit_code == 0);
        CHECK(plain.head.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(plain.body == answers[0]);

        auto secure = curl(std::vector<std::string>{"--cacert", h.ca} + seed_request(d.https));
        REQUIRE_MESSAGE(secure.exit_code == 0, "curl exit " << secure.exit_code);
        CHECK(secure.body == answers[0]);
        CHECK(secure.head.find("x-ditto-client-cert-serial") == std::string::npos);

        // Any method, any path, and the headers curl sends by default are echoed too.
        auto del = curl({"-X", "DELETE", d.http + "/v1/things/42?force=1", "-H", "X-A: 1"});
        REQUIRE(del.exit_code == 0);
        CHECK(del.head.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(del.body.find("x-a: 1\n") != std::string::npos);
        CHECK(del.body.find("user-agent: curl/") != std::string::npos);
        CHECK(del.body.find("host:") == std::string::npos);

        // Any body comes back as it was sent: an upload (httplib would have parsed it into parts
        // and echoed nothing), a form over 8 KiB (httplib refuses those), whole (no Range cut).
        const std::string file_text = std::string(20000, 'u') + "\n";
        test::write_text(std::filesystem::path(h.home()) / "upload.txt", file_text);
        auto upload = curl({d.http + "/upload", "-F", "note=hi", "-F",
                            "file=@" + h.home() + "/upload.txt", "-H", "Range: bytes=0-9"});
        REQUIRE(upload.exit_code == 0);
        CHECK(upload.head.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(upload.body.find("content-type: multipart/form-data; boundary=") != std::string::npos);
        CHECK(upload.body.find("range: bytes=0-9\n") != std::string::npos);
        CHECK(upload.body.find("name=\"note\"\r\n\r\nhi\r\n") != std::string::npos);
        CHECK(upload.body.find(file_text) != std::string::npos);
        const std::string form = "pad=" + std::string(9000, 'x') + "&n=1";
        auto big_form = curl({d.http + "/form", "--data", form});
        REQUIRE(big_form.exit_code == 0);
        CHECK(big_form.head.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(big_form.body.find("\n\n" + form) != std::string::npos);

        CHECK(d.process->stop(SIGINT) == 0);
    }

    TEST_CASE("a client certificate's serial is echoed, as openssl reports it") {
        auto answers = test::footprint_seed_answers();
        REQUIRE(answers.size() == 2);
        Home h;
        auto [cert, key] = h.client("ditto-client");
        auto serial = openssl_serial_decimal(cert);
        Ditto d({"--home", h.home(), "ditto"});
        REQUIRE_FALSE(d.https.empty());

        auto a = curl(std::vector<std::string>{"--cacert", h.ca, "--cert", cert, "--key", key} +
                      seed_request(d.https));
        REQUIRE_MESSAGE(a.exit_code == 0, "curl exit " << a.exit_code);
        CHECK((a.head + "\r\n").find("\r\nx-ditto-client-cert-serial: " + serial + "\r\n") !=
              std::string::npos);
        // The seed's second example, with this certificate's serial in place of its own.
        auto expected = answers[1];
        const std::string seed_serial = "12431179266346922388";
        REQUIRE(expected.find(seed_serial) != std::string::npos);
        expected.replace(expected.find(seed_serial), seed_serial.size(), serial);
        CHECK(a.body == expected);
        CHECK(d.process->stop(SIGTERM) == 0);
    }

    TEST_CASE("--client-ca and --require-client-cert, with the JSON format") {
        Home h;
        auto [cert, key] = h.client("json-client");
        auto serial = openssl_serial_decimal(cert);
        Ditto d({"--home", h.home(), "ditto", "--no-http", "--client-ca", h.ca,
                 "--require-client-cert", "--format", "json"},
                1);
        CHECK(d.http.empty());
        REQUIRE_FALSE(d.https.empty());

        auto anonymous = curl({"--cacert", h.ca, d.https + "/x"});
        CHECK(anonymous.exit_code != 0);

        auto other = run_vaultfwd({"--home", (h.dir.path() / "other").string(), "init"});
        REQUIRE(other.exit_code == 0);
        auto stranger = run_vaultfwd({"--home", (h.dir.path() / "other").string(), "cert", "issue",
                                      "--cn", "stranger", "--out-dir", h.dir.path().string()});
        REQUIRE(stranger.exit_code == 0);
        auto refused = curl({"--cacert", h.ca, "--cert", (h.dir / "stranger.pem").string(), "--key",
                             (h.dir / "stranger.key").string(), d.https + "/x"});
        CHECK(refused.exit_code != 0);

        auto a = curl({"--cacert", h.ca, "--cert", cert, "--key", key, "-X", "PATCH",
                       d.https + "/items/7?dry=1&x=%20", "-H", "X-Trace: abc", "--data-binary",
                       "a=1&b=2"});
        REQUIRE_MESSAGE(a.exit_code == 0, "curl exit " << a.exit_code);
        CHECK(a.head.find("application/json") != std::string::npos);
        auto j = nlohmann::json::parse(a.body);
        CHECK(j["method"] == "PATCH");
        CHECK(j["path"] == "/items/7");
        CHECK(j["query"] == "dry=1&x=%20");
        CHECK(j["headers"]["x-trace"] == "abc");
        CHECK(j["body"] == "a=1&b=2");
        CHECK(j["client_cert"]["serial"] == serial);
        CHECK(j["client_cert"]["subject"].get<std::string>().find("CN=json-client") !=
              std::string::npos);
    }

    TEST_CASE("--cert/--key serve a certificate of the user's own") {
        test::TempDir dir;
        auto ca = std::move(tls::make_ca("own CA")).value();
        tls::IssueOptions o;
        o.common_name = "localhost";
        o.ip_addresses = {"127.0.0.1"};
        auto leaf = std::move(tls::issue(o, &ca)).value();
        test::write_text(dir / "ca.pem", tls::cert_to_pem(ca.cert.get()));
        test::write_text(dir / "leaf.pem", tls::cert_to_pem(leaf.cert.get()));
        test::write_text(dir / "leaf.key", tls::key_to_pem(leaf.key.get()));
        // No profile exists in this home, and none is needed.
        Ditto d({"--home", (dir / "home").string(), "ditto", "--cert", (dir / "leaf.pem").string(),
                 "--key", (dir / "leaf.key").string()});
        REQUIRE_FALSE(d.https.empty());
        auto a = curl({"--cacert", (dir / "ca.pem").string(), d.https + "/"});
        CHECK(a.exit_code == 0);
        CHECK_FALSE(std::filesystem::exists(dir / "home" / "default.toml"));

        auto mismatch = run_vaultfwd(
            {"ditto", "--cert", (dir / "leaf.pem").string(), "--key", (dir / "ca.pem").string()});
        CHECK(mismatch.exit_code == 1);
        CHECK(mismatch.err.find("vaultfwd: error: ") == 0);
    }
}
