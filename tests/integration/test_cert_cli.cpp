// SPDX-License-Identifier: Apache-2.0
// `vaultfwd cert …` and `vaultfwd ca …` through the built binary, against a temp home.
#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "core/tls/cert.hpp"
#include "core/util/fs.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using test::run_program;
using test::RunResult;
namespace fs = std::filesystem;

namespace {

const std::string k_comment = "# hand-written: the acquirer sandbox needs mTLS (ticket 123)\n";

struct Home {
    test::TempDir dir;
    tls::KeyPair issuer = std::move(tls::make_ca("Acme Test Issuer")).value();

    Home() {
        REQUIRE(run({"init"}).exit_code == 0);
        auto text = test::read_text(profile());
        // A comment of the user's own in the middle of the file.
        auto pos = text.find("[[proxy_credentials]]");
        REQUIRE(pos != std::string::npos);
        text.insert(pos, k_comment);
        test::write_text(profile(), text);
    }
    fs::path profile() const { return dir / "default.toml"; }
    RunResult run(std::vector<std::string> args, const std::string& input = {}) const {
        args.insert(args.begin(), {"--home", dir.path().string()});
        return test::run_vaultfwd(args, input);
    }
    // Writes a certificate (valid from `from_days` to `to_days` around now) and its key.
    std::pair<std::string, std::string> pair(const std::string& stem, int to_days = 365,
                                             int from_days = -1) const {
        tls::IssueOptions o;
        o.common_name = stem + ".example";
        o.usage = tls::Usage::client;
        o.days = to_days;
        o.not_before_offset_days = from_days;
        auto p = std::move(tls::issue(o, &issuer)).value();
        auto cert = dir / (stem + ".pem");
        auto key = dir / (stem + ".key");
        test::write_text(cert, tls::cert_to_pem(p.cert.get()));
        test::write_text(key, tls::key_to_pem(p.key.get()));
        return {cert.string(), key.string()};
    }
};

bool has(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

} // namespace

TEST_SUITE("cert_cli") {
    TEST_CASE("add, list, rm: the profile keeps the user's comment") {
        Home h;
        auto [cert, key] = h.pair("acquirer");
        auto add = h.run({"cert", "add", "acquirer", "--cert", cert, "--key", key, "--credential",
                          "default", "--description", "Acquirer sandbox"});
        REQUIRE_MESSAGE(add.exit_code == 0, add.err);
        CHECK(has(add.out, "added certificate \"acquirer\""));
        CHECK(has(test::read_text(h.profile()), k_comment));
        CHECK(util::file_mode(h.dir / "default" / "certs" / "acquirer.key") == 0600);
        CHECK(h.run({"config", "check"}).exit_code == 0);

        auto serial = run_program({"openssl", "x509", "-in", cert, "-noout", "-serial"});
        auto fingerprint =
            run_program({"openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"});
        REQUIRE(serial.exit_code == 0);
        auto serial_hex = serial.out.substr(7, serial.out.find('\n') - 7);
        auto fp = fingerprint.out.substr(fingerprint.out.find('=') + 1);
        fp = fp.substr(0, fp.find('\n'));

        auto list = h.run({"cert", "list"});
        REQUIRE(list.exit_code == 0);
        CHECK(has(list.out, "acquirer  outbound  credential default"));
        CHECK(has(list.out, "Acquirer sandbox"));
        CHECK(has(list.out, "CN=acquirer.example"));
        CHECK(has(list.out, "signer       CN=Acme Test Issuer"));
        CHECK(has(list.out, "(hex " + serial_hex + ")"));
        CHECK(has(list.out, fp));
        CHECK_FALSE(has(list.out, "EXPIRED"));

        auto json = h.run({"--json", "cert", "list"});
        REQUIRE(json.exit_code == 0);
        auto j = nlohmann::json::parse(json.out);
        REQUIRE(j["certs"].size() == 1);
        CHECK(j["certs"][0]["name"] == "acquirer");
        CHECK(j["certs"][0]["serial_hex"] == serial_hex);
        CHECK(j["certs"][0]["sha256"] == fp);
        CHECK(j["certs"][0]["expired"] == false);

        // Not on a terminal, rm wants --yes, and changes nothing without it.
        auto profile_text = test::read_text(h.profile());
        auto refused = h.run({"cert", "rm", "acquirer"});
        CHECK(refused.exit_code == 2);
        CHECK(has(refused.err, "pass --yes"));
        CHECK(test::read_text(h.profile()) == profile_text);
        CHECK(fs::exists(h.dir / "default" / "certs" / "acquirer.pem"));

        auto rm = h.run({"cert", "rm", "acquirer", "--yes"});
        REQUIRE_MESSAGE(rm.exit_code == 0, rm.err);
        CHECK(has(test::read_text(h.profile()), k_comment));
        CHECK_FALSE(fs::exists(h.dir / "default" / "certs" / "acquirer.pem"));
        CHECK(has(h.run({"cert", "list"}).out, "no certificates"));
        CHECK(h.run({"config", "check"}).exit_code == 0);
        auto again = h.run({"cert", "rm", "acquirer", "--yes"});
        CHECK(again.exit_code == 1);
        CHECK(has(again.err, "no certificate \"acquirer\""));
    }

    TEST_CASE("on a terminal, rm asks first") {
        Home h;
        auto [cert, key] = h.pair("asked");
        REQUIRE(h.run({"cert", "add", "asked", "--cert", cert, "--key", key}).exit_code == 0);
        auto cmd =
            "'" + test::binary_path() + "' --home '" + h.dir.path().string() + "' cert rm asked";
        // script(1) gives the command a terminal; our input is typed into it.
        auto no = run_program({"script", "-qec", cmd, "/dev/null"}, "n\n");
        CHECK(has(no.out, "remove certificate \"asked\""));
        CHECK(h.run({"--json", "cert", "list"}).out.find("\"asked\"") != std::string::npos);
        auto yes = run_program({"script", "-qec", cmd, "/dev/null"}, "y\n");
        CHECK(has(yes.out, "removed certificate \"asked\""));
        CHECK(has(h.run({"cert", "list"}).out, "no certificates"));
    }

    TEST_CASE("a mismatched key, an expired certificate and garbage are refused, each its way") {
        Home h;
        auto before = test::read_text(h.profile());
        auto [cert_a, key_a] = h.pair("a");
        auto [cert_b, key_b] = h.pair("b");
        auto [old_cert, old_key] = h.pair("old", -5, -30);
        auto garbage = (h.dir / "garbage.pem").string();
        test::write_text(garbage, "this is not PEM at all\n");

        auto mismatch = h.run({"cert", "add", "m", "--cert", cert_a, "--key", key_b});
        CHECK(mismatch.exit_code == 1);
        CHECK(has(mismatch.err, "vaultfwd: error: the key in " + key_b +
                                    " does not belong to the certificate in " + cert_a));

        auto expired = h.run({"cert", "add", "e", "--cert", old_cert, "--key", old_key});
        CHECK(expired.exit_code == 1);
        CHECK(has(expired.err, "expired on"));
        CHECK(has(expired.err, "--allow-expired"));

        auto bad_cert = h.run({"cert", "add", "g", "--cert", garbage, "--key", key_a});
        CHECK(bad_cert.exit_code == 1);
        CHECK(has(bad_cert.err, garbage + ": no PEM certificate found"));

        auto bad_key = h.run({"cert", "add", "k", "--cert", cert_a, "--key", garbage});
        CHECK(bad_key.exit_code == 1);
        CHECK(has(bad_key.err, garbage + ": no PEM private key found"));

        auto swapped = h.run({"cert", "add", "s", "--cert", key_a, "--key", cert_a});
        CHECK(swapped.exit_code == 1);
        CHECK(has(swapped.err, "swapped"));

        auto unknown =
            h.run({"cert", "add", "u", "--cert", cert_a, "--key", key_a, "--credential", "nobody"});
        CHECK(unknown.exit_code == 1);
        CHECK(has(unknown.err, "no proxy credential \"nobody\""));

        auto both = h.run({"cert", "add", "t", "--cert", cert_a, "--key", key_a, "--credential",
                           "default", "--route", "r"});
        CHECK(both.exit_code == 2);

        std::set<std::string> messages{mismatch.err, expired.err, bad_cert.err, bad_key.err};
        CHECK(messages.size() == 4);
        CHECK(test::read_text(h.profile()) == before);

        SUBCASE("--allow-expired adds it, and list flags it; a near expiry is flagged too") {
            auto forced = h.run(
                {"cert", "add", "e", "--cert", old_cert, "--key", old_key, "--allow-expired"});
            REQUIRE_MESSAGE(forced.exit_code == 0, forced.err);
            auto [soon_cert, soon_key] = h.pair("soon", 10);
            REQUIRE(
                h.run({"cert", "add", "soon", "--cert", soon_cert, "--key", soon_key}).exit_code ==
                0);
            auto list = h.run({"cert", "list"});
            CHECK(has(list.out, "e  outbound  not tied  [EXPIRED]"));
            CHECK(has(list.out, "soon  outbound  not tied  [EXPIRES SOON]"));
            CHECK(has(list.out, "days ago"));
            auto j = nlohmann::json::parse(h.run({"--json", "cert", "list"}).out);
            CHECK(j["certs"][0]["expired"] == true);
            CHECK(j["certs"][1]["expires_soon"] == true);
        }
    }

    TEST_CASE("cert issue makes a client certificate the local CA signed") {
        Home h;
        auto out = h.dir / "issued";
        auto r = h.run(
            {"cert", "issue", "--cn", "test client", "--out-dir", out.string(), "--days", "30"});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        auto cert = (out / "test-client.pem").string();
        CHECK(util::file_mode(out / "test-client.key") == 0600);
        auto verify =
            run_program({"openssl", "verify", "-CAfile", (h.dir / "default" / "ca.pem").string(),
                         "-purpose", "sslclient", cert});
        CHECK_MESSAGE(verify.exit_code == 0, verify.out << verify.err);
        auto again = h.run({"cert", "issue", "--cn", "test client", "--out-dir", out.string()});
        CHECK(again.exit_code == 1);
        CHECK(has(again.err, "already exists"));
        CHECK(h.run({"cert", "issue", "--cn", "test client", "--out-dir", out.string(), "--force"})
                  .exit_code == 0);
    }

    TEST_CASE("cert pin add, list, rm") {
        Home h;
        auto root = (h.dir / "root.pem").string();
        test::write_text(root, tls::cert_to_pem(h.issuer.cert.get()));
        auto add = h.run({"cert", "pin", "add", "acme-root", "--cert", root, "--description",
                          "Acme issuing root"});
        REQUIRE_MESSAGE(add.exit_code == 0, add.err);
        auto list = h.run({"cert", "pin", "list"});
        CHECK(has(list.out, "acme-root  every upstream call"));
        CHECK(has(list.out, "root CA"));
        CHECK(has(list.out, "CN=Acme Test Issuer"));
        auto bad_scope = h.run({"cert", "pin", "add", "x", "--cert", root, "--scope", "nope"});
        CHECK(bad_scope.exit_code == 1);
        CHECK(has(bad_scope.err, "scope \"nope\""));
        CHECK(h.run({"cert", "pin", "rm", "acme-root"}).exit_code == 2);
        CHECK(h.run({"cert", "pin", "rm", "acme-root", "--yes"}).exit_code == 0);
        CHECK(has(h.run({"cert", "pin", "list"}).out, "no pinned certificates"));
        CHECK(has(test::read_text(h.profile()), k_comment));
    }

    TEST_CASE("cert add warns about a chain with an expired intermediate or out of order") {
        Home h;
        auto make = [](const std::string& cn, tls::Usage usage, int days, int from_days,
                       const tls::KeyPair* issuer) {
            tls::IssueOptions o;
            o.common_name = cn;
            o.usage = usage;
            o.days = days;
            o.not_before_offset_days = from_days;
            return std::move(tls::issue(o, issuer)).value();
        };
        auto live_ca = make("Live Intermediate", tls::Usage::ca, 365, -1, &h.issuer);
        auto dead_ca = make("Expired Intermediate", tls::Usage::ca, -2, -400, &h.issuer);
        auto add = [&](const std::string& name, const tls::KeyPair& leaf,
                       const std::vector<const tls::KeyPair*>& chain) {
            std::string pem = tls::cert_to_pem(leaf.cert.get());
            for (const auto* c : chain)
                pem += tls::cert_to_pem(c->cert.get());
            auto cert = h.dir / (name + ".pem");
            auto key = h.dir / (name + ".key");
            test::write_text(cert, pem);
            test::write_text(key, tls::key_to_pem(leaf.key.get()));
            auto r = h.run({"cert", "add", name, "--cert", cert.string(), "--key", key.string()});
            INFO(r.err);
            CHECK(r.exit_code == 0); // added as given: the warning is a warning
            return std::make_pair(cert.string(), r.err);
        };

        // A good chain: leaf, its intermediate, the root. Not a word.
        auto good_leaf = make("good.example", tls::Usage::client, 90, -1, &live_ca);
        auto good = add("good", good_leaf, {&live_ca, &h.issuer});
        CHECK(good.second.empty());

        // The intermediate expired (the leaf itself is valid).
        auto stale_leaf = make("stale.example", tls::Usage::client, 90, -1, &dead_ca);
        auto stale = add("stale", stale_leaf, {&dead_ca});
        CHECK(has(stale.second, "vaultfwd: warning: " + stale.first +
                                    ": certificate 2 of the chain (CN=Expired Intermediate"));
        CHECK(has(stale.second, ") expired on "));
        CHECK_FALSE(has(stale.second, "did not sign"));

        // The second certificate did not sign the first: the root before the intermediate.
        auto swapped_leaf = make("swapped.example", tls::Usage::client, 90, -1, &live_ca);
        auto swapped = add("swapped", swapped_leaf, {&h.issuer, &live_ca});
        CHECK(has(swapped.second, "certificate 2 of the chain (CN=Acme Test Issuer"));
        CHECK(has(swapped.second, "did not sign certificate 1 (CN=swapped.example"));
        CHECK(has(swapped.second, "whose signer is CN=Live Intermediate"));
        // …and the third did not sign the second either.
        CHECK(has(swapped.second, "certificate 3 of the chain (CN=Live Intermediate"));

        // --json carries the warnings too.
        auto again_leaf = make("again.example", tls::Usage::client, 90, -1, &dead_ca);
        auto again = h.dir / "again.pem";
        test::write_text(again, tls::cert_to_pem(again_leaf.cert.get()) +
                                    tls::cert_to_pem(dead_ca.cert.get()));
        test::write_text(h.dir / "again.key", tls::key_to_pem(again_leaf.key.get()));
        auto j = h.run({"--json", "cert", "add", "again", "--cert", again.string(), "--key",
                        (h.dir / "again.key").string()});
        REQUIRE(j.exit_code == 0);
        auto parsed = nlohmann::json::parse(j.out);
        REQUIRE(parsed["warnings"].size() == 1);
        CHECK(has(parsed["warnings"][0].get<std::string>(), "expired on"));
    }

    TEST_CASE("ca init and ca export") {
        Home h;
        auto ca_file = h.dir / "default" / "ca.pem";
        auto before = test::read_text(ca_file);
        auto kept = h.run({"ca", "init"});
        CHECK(kept.exit_code == 0);
        CHECK(has(kept.out, "kept the local CA"));
        CHECK(test::read_text(ca_file) == before);

        auto pem = h.run({"ca", "export"});
        REQUIRE(pem.exit_code == 0);
        CHECK(pem.out == before);

        auto der = h.run({"ca", "export", "--format", "der"});
        REQUIRE(der.exit_code == 0);
        auto openssl_der =
            run_program({"openssl", "x509", "-in", ca_file.string(), "-outform", "DER"});
        CHECK(der.out == openssl_der.out);

        auto p12 = h.dir / "ca.p12";
        auto exp = h.run(
            {"ca", "export", "--format", "p12", "--out", p12.string(), "--password", "changeit"});
        REQUIRE_MESSAGE(exp.exit_code == 0, exp.err);
        auto read = run_program(
            {"openssl", "pkcs12", "-in", p12.string(), "-passin", "pass:changeit", "-nokeys"});
        CHECK_MESSAGE(read.exit_code == 0, read.err);
        CHECK(has(read.out, "BEGIN CERTIFICATE"));
        auto no_password = h.run(
            {"ca", "export", "--format", "p12", "--with-key", "--out", (h.dir / "k.p12").string()});
        CHECK(no_password.exit_code == 1);
        CHECK(has(no_password.err, "needs a password"));

        // Java reads the bundle as a truststore: one trusted certificate entry (keytool -list
        // showed 0 entries before the bag carried Java's trusted-key-usage attribute), and the
        // bundle with the key as one key entry.
        if (run_program({"sh", "-c", "command -v keytool"}).exit_code != 0) {
            MESSAGE("keytool (Java) is not installed: the p12 is checked structurally only");
        } else {
            auto list = run_program({"keytool", "-list", "-keystore", p12.string(), "-storetype",
                                     "PKCS12", "-storepass", "changeit"});
            CHECK_MESSAGE(list.exit_code == 0, list.out << list.err);
            CHECK_MESSAGE(has(list.out, "contains 1 entry"), list.out);
            CHECK_MESSAGE(has(list.out, "vaultfwd, "), list.out);
            CHECK_MESSAGE(has(list.out, "trustedCertEntry"), list.out);
            auto with_key = h.dir / "ca-full.p12";
            REQUIRE(h.run({"ca", "export", "--format", "p12", "--with-key", "--password", "s3cret",
                           "--out", with_key.string()})
                        .exit_code == 0);
            auto keyed = run_program({"keytool", "-list", "-keystore", with_key.string(),
                                      "-storetype", "PKCS12", "-storepass", "s3cret"});
            CHECK_MESSAGE(keyed.exit_code == 0, keyed.out << keyed.err);
            CHECK_MESSAGE(has(keyed.out, "contains 1 entry"), keyed.out);
            CHECK_MESSAGE(has(keyed.out, "PrivateKeyEntry"), keyed.out);
        }

        auto forced = h.run({"ca", "init", "--force"});
        CHECK(forced.exit_code == 0);
        CHECK(has(forced.out, "regenerated"));
        CHECK(test::read_text(ca_file) != before);
        CHECK(util::file_mode(h.dir / "default" / "ca.key") == 0600);
    }
}
