// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <openssl/pkcs12.h>

#include "core/profile/init.hpp"
#include "core/profile/profile.hpp"
#include "core/tls/cert.hpp"
#include "core/tls/store.hpp"
#include "core/util/fs.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_day = 86400;

tls::KeyPair client_pair(const tls::KeyPair* issuer, int days = 90, int not_before_days = -1) {
    tls::IssueOptions o;
    o.common_name = "test client";
    o.usage = tls::Usage::client;
    o.days = days;
    o.not_before_offset_days = not_before_days;
    return std::move(tls::issue(o, issuer)).value();
}

// What a PKCS#12 reader finds in each bag: its type, and the value of Java's trusted-key-usage
// attribute (empty when the bag has none), read bag by bag as Java does.
struct P12Bag {
    int nid = 0;
    std::string java_trust;
    bool has_local_key_id = false;
};
std::vector<P12Bag> p12_bags(const std::string& der, const std::string& password) {
    const auto* data = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<PKCS12, void (*)(PKCS12*)> p12(
        d2i_PKCS12(nullptr, &data, static_cast<long>(der.size())), PKCS12_free);
    REQUIRE(p12);
    REQUIRE(PKCS12_verify_mac(p12.get(), password.c_str(), -1) == 1);
    STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12.get());
    REQUIRE(safes);
    std::vector<P12Bag> out;
    for (int i = 0; i < sk_PKCS7_num(safes); ++i) {
        PKCS7* safe = sk_PKCS7_value(safes, i);
        STACK_OF(PKCS12_SAFEBAG)* bags =
            PKCS7_type_is_data(safe) ? PKCS12_unpack_p7data(safe)
                                     : PKCS12_unpack_p7encdata(safe, password.c_str(), -1);
        REQUIRE(bags);
        for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); ++j) {
            const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, j);
            P12Bag b;
            b.nid = PKCS12_SAFEBAG_get_nid(bag);
            const STACK_OF(X509_ATTRIBUTE)* attrs = PKCS12_SAFEBAG_get0_attrs(bag);
            for (int k = 0; k < sk_X509_ATTRIBUTE_num(attrs); ++k) {
                X509_ATTRIBUTE* attr = sk_X509_ATTRIBUTE_value(attrs, k);
                char oid[80];
                OBJ_obj2txt(oid, sizeof oid, X509_ATTRIBUTE_get0_object(attr), 1);
                if (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attr)) == NID_localKeyID)
                    b.has_local_key_id = true;
                if (std::string(oid) != tls::k_java_trusted_key_usage)
                    continue;
                REQUIRE(X509_ATTRIBUTE_count(attr) == 1);
                ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, 0);
                REQUIRE(value->type == V_ASN1_OBJECT);
                char usage[80];
                OBJ_obj2txt(usage, sizeof usage, value->value.object, 1);
                b.java_trust = usage;
            }
            out.push_back(std::move(b));
        }
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    }
    sk_PKCS7_pop_free(safes, PKCS7_free);
    return out;
}

std::string pem(const tls::KeyPair& p) {
    return tls::cert_to_pem(p.cert.get());
}
std::string key_pem(const tls::KeyPair& p) {
    return tls::key_to_pem(p.key.get());
}

// A home with an initialised profile, a comment of the user's own, and PEM files to add.
struct Home {
    test::TempDir dir;
    tls::KeyPair ca = std::move(tls::make_ca("test issuer")).value();
    tls::KeyPair good = client_pair(&ca);
    fs::path cert_file = dir / "client.pem";
    fs::path key_file = dir / "client.key";

    Home() {
        REQUIRE(profile::init_profile(dir.path(), "default", profile::Overwrite::never).ok());
        auto file = profile::profile_path(dir.path(), "default");
        auto text = test::read_text(file);
        test::write_text(file, "# my own note: keep me\n" + text);
        test::write_text(cert_file, pem(good));
        test::write_text(key_file, key_pem(good));
    }
    profile::Profile load() const {
        auto p = profile::load(dir.path(), "default");
        REQUIRE_MESSAGE(p.ok(), p.error().message);
        return std::move(p).value();
    }
    std::string text() const { return test::read_text(dir / "default.toml"); }
};

} // namespace

TEST_SUITE("tls") {
    TEST_CASE("check_pair tells each problem apart") {
        auto ca = std::move(tls::make_ca("ca")).value();
        auto a = client_pair(&ca);
        auto b = client_pair(&ca);
        auto now = tls::now_epoch();

        auto ok = tls::check_pair(pem(a), key_pem(a), now, tls::Expiry::refuse, "a.pem", "a.key");
        REQUIRE(ok.ok());
        CHECK(ok->serial_decimal == tls::inspect(a.cert.get()).serial_decimal);

        auto mismatch =
            tls::check_pair(pem(a), key_pem(b), now, tls::Expiry::refuse, "a.pem", "b.key");
        REQUIRE_FALSE(mismatch.ok());
        CHECK(mismatch.error().code == "tls.key_mismatch");
        CHECK(mismatch.error().message.find("b.key") != std::string::npos);

        auto garbage =
            tls::check_pair("hello world", key_pem(a), now, tls::Expiry::refuse, "g.pem");
        REQUIRE_FALSE(garbage.ok());
        CHECK(garbage.error().code == "tls.bad_pem");
        CHECK(garbage.error().message.find("g.pem: no PEM certificate") == 0);

        auto broken =
            tls::check_pair("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
                            key_pem(a), now, tls::Expiry::refuse);
        REQUIRE_FALSE(broken.ok());
        CHECK(broken.error().message.find("cannot be parsed") != std::string::npos);

        auto bad_key = tls::check_pair(pem(a), "junk", now, tls::Expiry::refuse, "a.pem", "j.key");
        REQUIRE_FALSE(bad_key.ok());
        CHECK(bad_key.error().code == "tls.bad_key");

        auto swapped = tls::check_pair(key_pem(a), pem(a), now, tls::Expiry::refuse);
        REQUIRE_FALSE(swapped.ok());
        CHECK(swapped.error().message.find("swapped") != std::string::npos);

        auto old = client_pair(&ca, -10, -40); // valid from 40 days ago until 10 days ago
        auto expired = tls::check_pair(pem(old), key_pem(old), now, tls::Expiry::refuse, "old.pem");
        REQUIRE_FALSE(expired.ok());
        CHECK(expired.error().code == "cert.expired");
        CHECK(expired.error().message.find("--allow-expired") != std::string::npos);
        CHECK(tls::check_pair(pem(old), key_pem(old), now, tls::Expiry::allow).ok());
    }

    TEST_CASE("expiry_state: expired, soon, fine") {
        tls::CertInfo info;
        info.not_after_epoch = 1000 * k_day;
        auto fine = tls::expiry_state(info, 900 * k_day);
        CHECK_FALSE(fine.expired);
        CHECK_FALSE(fine.expires_soon);
        CHECK(fine.days_left == 100);
        auto soon = tls::expiry_state(info, 990 * k_day);
        CHECK(soon.expires_soon);
        CHECK(soon.days_left == 10);
        auto gone = tls::expiry_state(info, 1000 * k_day + 1);
        CHECK(gone.expired);
        CHECK_FALSE(gone.expires_soon);
        CHECK(gone.days_left == -1);
    }

    TEST_CASE("add, list and remove a certificate; the user's comment survives") {
        Home h;
        auto p = h.load();
        tls::CertAdd req;
        req.name = "acquirer";
        req.credential = "default";
        req.description = "sandbox acquirer";
        req.cert_file = h.cert_file.string();
        req.key_file = h.key_file.string();
        auto added = tls::add_cert(p, req, tls::now_epoch());
        REQUIRE_MESSAGE(added.ok(), added.error().message);
        CHECK(added->cert == "default/certs/acquirer.pem");
        CHECK(added->key == "default/certs/acquirer.key");
        CHECK(util::file_mode(h.dir / "default/certs/acquirer.key") == 0600);
        CHECK(test::read_text(h.dir / "default/certs/acquirer.pem") == pem(h.good));
        CHECK(h.text().rfind("# my own note: keep me\n", 0) == 0);

        p = h.load();
        REQUIRE(p.find_cert("acquirer") != nullptr);
        CHECK(p.find_cert("acquirer")->credential == "default");
        auto rows = tls::list_certs(p, tls::now_epoch());
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].readable);
        CHECK(rows[0].flags.empty());
        CHECK(rows[0].info.issuer.find("test issuer") != std::string::npos);
        CHECK(rows[0].info.serial_decimal == tls::inspect(h.good.cert.get()).serial_decimal);

        // Seen from 80 days on, the 90-day certificate expires soon; from 100 days on, expired.
        auto later = tls::list_certs(p, tls::now_epoch() + 80 * k_day);
        CHECK(later[0].flags == std::vector<std::string>{"EXPIRES SOON"});
        auto much_later = tls::list_certs(p, tls::now_epoch() + 100 * k_day);
        CHECK(much_later[0].flags == std::vector<std::string>{"EXPIRED"});

        auto again = tls::add_cert(p, req, tls::now_epoch());
        REQUIRE_FALSE(again.ok());
        CHECK(again.error().code == "cert.exists");

        REQUIRE(tls::remove_cert(p, "acquirer").ok());
        CHECK_FALSE(fs::exists(h.dir / "default/certs/acquirer.pem"));
        CHECK_FALSE(fs::exists(h.dir / "default/certs/acquirer.key"));
        p = h.load();
        CHECK(p.certs.empty());
        CHECK(h.text().rfind("# my own note: keep me\n", 0) == 0);
        auto missing = tls::remove_cert(p, "acquirer");
        REQUIRE_FALSE(missing.ok());
        CHECK(missing.error().code == "cert.not_found");
    }

    TEST_CASE("add_cert checks ties and direction before touching anything") {
        Home h;
        auto p = h.load();
        auto before = h.text();
        tls::CertAdd req;
        req.name = "x";
        req.cert_file = h.cert_file.string();
        req.key_file = h.key_file.string();

        auto r = req;
        r.credential = "defualt";
        auto unknown = tls::add_cert(p, r, tls::now_epoch());
        REQUIRE_FALSE(unknown.ok());
        CHECK(unknown.error().code == "cert.unknown_credential");
        CHECK(unknown.error().message.find("did you mean \"default\"") != std::string::npos);

        r = req;
        r.route = "nowhere";
        CHECK(tls::add_cert(p, r, tls::now_epoch()).error().code == "cert.bad_tie"); // a route: inbound
        r.direction = "inbound";
        CHECK(tls::add_cert(p, r, tls::now_epoch()).error().code == "cert.unknown_route");
        r = req;
        r.direction = "inbound";
        CHECK(tls::add_cert(p, r, tls::now_epoch()).error().code == "cert.bad_tie"); // no --route
        r = req;
        r.direction = "inbound";
        r.credential = "default";
        CHECK(tls::add_cert(p, r, tls::now_epoch()).error().code == "cert.bad_tie");
        r = req;
        r.key_file.clear();
        CHECK(tls::add_cert(p, r, tls::now_epoch()).error().code == "cert.missing_key");
        r = req;
        r.name = "bad name!";
        CHECK(tls::add_cert(p, r, tls::now_epoch()).error().code == "cert.bad_name");
        r = req;
        r.cert_file = (h.dir / "nope.pem").string();
        CHECK_FALSE(tls::add_cert(p, r, tls::now_epoch()).ok());

        CHECK(h.text() == before);
        CHECK_FALSE(fs::exists(h.dir / "default/certs/x.pem"));

        SUBCASE("an inbound certificate belongs to an inbound route, with its key (presented to its upstream)") {
            test::write_text(h.dir / "default.toml",
                             h.text() + "\n[[routes]]\nid = \"out\"\nhost = \"a\\\\.example\"\n\n[[routes]]\nid = "
                                        "\"collect\"\ndirection = \"inbound\"\nupstream = \"https://api.example\"\n");
            p = h.load();
            r = req;
            r.direction = "inbound";
            r.route = "out";
            auto outbound_route = tls::add_cert(p, r, tls::now_epoch());
            CHECK(outbound_route.error().code == "cert.bad_tie");
            CHECK(outbound_route.error().message.find("an outbound route") != std::string::npos);
            r.route = "collect";
            r.key_file.clear();
            CHECK(tls::add_cert(p, r, tls::now_epoch()).error().code == "cert.missing_key");
            r.key_file = req.key_file;
            auto added = tls::add_cert(p, r, tls::now_epoch());
            REQUIRE_MESSAGE(added.ok(), added.error().message);
            CHECK_FALSE(added->key.empty());
            auto loaded = h.load(); // find_cert points into it: it must outlive the checks
            const auto* entry = loaded.find_cert("x");
            REQUIRE(entry);
            CHECK(entry->direction == "inbound");
            CHECK(entry->route == "collect");
        }
    }

    TEST_CASE("a certificate a proxy credential names cannot be removed") {
        Home h;
        tls::CertAdd req;
        req.name = "used";
        req.cert_file = h.cert_file.string();
        req.key_file = h.key_file.string();
        REQUIRE(tls::add_cert(h.load(), req, tls::now_epoch()).ok());
        auto text = h.text();
        auto pos = text.find("# client_cert = \"my-mtls\"");
        REQUIRE(pos != std::string::npos);
        text.replace(pos, std::string("# client_cert = \"my-mtls\"").size(),
                     "client_cert = \"used\"");
        test::write_text(h.dir / "default.toml", text);
        auto p = h.load();
        CHECK(tls::cert_users(p, "used") ==
              std::vector<std::string>{"proxy credential \"default\""});
        auto r = tls::remove_cert(p, "used");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == "cert.in_use");
        CHECK(fs::exists(h.dir / "default/certs/used.pem"));
    }

    TEST_CASE("pins: add, list, remove; scope must exist") {
        Home h;
        auto p = h.load();
        auto ca_file = h.dir / "root.pem";
        test::write_text(ca_file, pem(h.ca) + pem(h.good));
        tls::PinAdd req;
        req.name = "issuer";
        req.cert_file = ca_file.string();
        auto added = tls::add_pin(p, req, tls::now_epoch());
        REQUIRE_MESSAGE(added.ok(), added.error().message);
        CHECK(added->cert == "default/pins/issuer.pem");
        auto rows = tls::list_pins(h.load(), tls::now_epoch());
        REQUIRE(rows.size() == 1);
        REQUIRE(rows[0].certs.size() == 2);
        CHECK(rows[0].certs[0].kind == "root CA");
        CHECK(rows[0].certs[1].kind == "leaf");

        auto scoped = req;
        scoped.name = "other";
        scoped.scope = "no-such-route";
        auto bad = tls::add_pin(h.load(), scoped, tls::now_epoch());
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "pin.unknown_scope");

        auto garbage_file = h.dir / "garbage.pem";
        test::write_text(garbage_file, "not a certificate");
        scoped = req;
        scoped.name = "garbage";
        scoped.cert_file = garbage_file.string();
        CHECK(tls::add_pin(h.load(), scoped, tls::now_epoch()).error().code == "tls.bad_pem");

        REQUIRE(tls::remove_pin(h.load(), "issuer").ok());
        CHECK(h.load().pins.empty());
        CHECK_FALSE(fs::exists(h.dir / "default/pins/issuer.pem"));
        CHECK(h.text().rfind("# my own note: keep me\n", 0) == 0);
    }

    TEST_CASE("the local CA: init keeps, force regenerates, export in three formats") {
        Home h;
        auto p = h.load();
        auto before = test::read_text(h.dir / "default/ca.pem");
        auto kept = tls::init_ca(p, tls::CaOverwrite::never);
        REQUIRE(kept.ok());
        CHECK_FALSE(kept->created);
        CHECK(test::read_text(h.dir / "default/ca.pem") == before);
        auto forced = tls::init_ca(p, tls::CaOverwrite::force);
        REQUIRE(forced.ok());
        CHECK(forced->created);
        CHECK(forced->info.is_ca);
        CHECK(test::read_text(h.dir / "default/ca.pem") != before);
        CHECK(util::file_mode(h.dir / "default/ca.key") == 0600);

        fs::remove(h.dir / "default/ca.pem");
        auto missing = tls::load_ca(p);
        REQUIRE_FALSE(missing.ok());
        CHECK(missing.error().code == "ca.missing");
        CHECK(missing.error().message.find("vaultfwd ca init") != std::string::npos);
        REQUIRE(tls::init_ca(p, tls::CaOverwrite::never)->created);

        auto ca = std::move(tls::load_ca(p)).value();
        auto pem_out = tls::export_ca(ca, tls::ExportFormat::pem, tls::WithKey::no, "");
        REQUIRE(pem_out.ok());
        CHECK(*pem_out == test::read_text(h.dir / "default/ca.pem"));
        auto with_key = tls::export_ca(ca, tls::ExportFormat::pem, tls::WithKey::yes, "");
        CHECK(with_key->find("PRIVATE KEY") != std::string::npos);

        auto der = tls::export_ca(ca, tls::ExportFormat::der, tls::WithKey::no, "");
        REQUIRE(der.ok());
        CHECK(*der == tls::cert_to_der(ca.cert.get()));
        CHECK(tls::export_ca(ca, tls::ExportFormat::der, tls::WithKey::yes, "").error().code ==
              "ca.der_with_key");
        CHECK(tls::export_ca(ca, tls::ExportFormat::p12, tls::WithKey::yes, "").error().code ==
              "ca.p12_password");

        for (auto with : {tls::WithKey::no, tls::WithKey::yes}) {
            auto p12 = tls::export_ca(ca, tls::ExportFormat::p12, with, "pw");
            REQUIRE(p12.ok());
            const auto* data = reinterpret_cast<const unsigned char*>(p12->data());
            std::unique_ptr<PKCS12, void (*)(PKCS12*)> parsed(
                d2i_PKCS12(nullptr, &data, static_cast<long>(p12->size())), PKCS12_free);
            REQUIRE(parsed);
            EVP_PKEY* key = nullptr;
            X509* cert = nullptr;
            STACK_OF(X509)* others = nullptr;
            REQUIRE(PKCS12_parse(parsed.get(), "pw", &key, &cert, &others) == 1);
            ossl::PkeyPtr key_owner(key);
            ossl::X509Ptr cert_owner(cert);
            // Without a key, PKCS#12 readers hand the certificate back among the "other" ones.
            X509* found =
                cert ? cert
                     : (others && sk_X509_num(others) == 1 ? sk_X509_value(others, 0) : nullptr);
            REQUIRE(found != nullptr);
            CHECK(X509_cmp(found, ca.cert.get()) == 0);
            CHECK((key != nullptr) == (with == tls::WithKey::yes));
            sk_X509_pop_free(others, X509_free);

            // A truststore: the certificate bag carries Java's trusted-key-usage attribute
            // (anyExtendedKeyUsage, as keytool writes it). With the key: a key entry instead,
            // the certificate tied to its key by the local key id.
            auto bags = p12_bags(*p12, "pw");
            REQUIRE(bags.size() == (with == tls::WithKey::yes ? 2U : 1U));
            CHECK(bags[0].nid == NID_certBag);
            if (with == tls::WithKey::no) {
                CHECK(bags[0].java_trust == "2.5.29.37.0");
                CHECK_FALSE(bags[0].has_local_key_id);
            } else {
                CHECK(bags[0].java_trust.empty());
                CHECK(bags[0].has_local_key_id);
                CHECK(bags[1].nid == NID_pkcs8ShroudedKeyBag);
                CHECK(bags[1].has_local_key_id);
            }
        }
        // The attribute is on every certificate of a chain exported as a truststore.
        auto other = std::move(tls::make_ca("other root")).value();
        auto chained = tls::to_pkcs12(ca.cert.get(), nullptr, "pw", {other.cert.get()});
        REQUIRE(chained.ok());
        auto chain_bags = p12_bags(*chained, "pw");
        REQUIRE(chain_bags.size() == 2);
        for (const auto& b : chain_bags)
            CHECK(b.java_trust == "2.5.29.37.0");
    }

    TEST_CASE("issued certificates: client usage, signed by the CA; localhost names") {
        auto ca = std::move(tls::make_ca("issuer")).value();
        auto client = tls::issue_client_cert(ca, "my client", 7);
        REQUIRE(client.ok());
        CHECK(X509_verify(client->cert.get(), X509_get0_pubkey(ca.cert.get())) == 1);
        CHECK(X509_check_purpose(client->cert.get(), X509_PURPOSE_SSL_CLIENT, 0) == 1);
        CHECK(X509_check_purpose(client->cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 0);
        auto info = tls::inspect(client->cert.get());
        CHECK(info.common_name == "my client");
        auto left = info.not_after_epoch - tls::now_epoch();
        CHECK(left <= 7 * k_day);
        CHECK(left > 7 * k_day - 60);
        CHECK(tls::issue_client_cert(ca, "", 7).error().code == "cert.bad_cn");
        CHECK(tls::issue_client_cert(ca, "x", 0).error().code == "cert.bad_days");

        auto server = tls::issue_localhost_cert(ca, "10.1.2.3");
        REQUIRE(server.ok());
        auto s = tls::inspect(server->cert.get());
        CHECK(s.dns_names == std::vector<std::string>{"localhost"});
        CHECK(s.ip_addresses == std::vector<std::string>{"127.0.0.1", "::1", "10.1.2.3"});
        auto named =
            tls::inspect(std::move(tls::issue_localhost_cert(ca, "box.test")).value().cert.get());
        CHECK(named.dns_names == std::vector<std::string>{"localhost", "box.test"});
        auto wildcard =
            tls::inspect(std::move(tls::issue_localhost_cert(ca, "0.0.0.0")).value().cert.get());
        CHECK(wildcard.ip_addresses.size() == 2);
    }

    TEST_CASE("file_stem and write_pair") {
        CHECK(tls::file_stem("my client/1") == "my-client-1");
        CHECK(tls::file_stem("..") == "client");
        CHECK(tls::file_stem("a.b_c-d") == "a.b_c-d");

        test::TempDir dir;
        auto ca = std::move(tls::make_ca("issuer")).value();
        auto pair = std::move(tls::issue_client_cert(ca, "c", 5)).value();
        auto cert = dir / "out" / "c.pem";
        auto key = dir / "out" / "c.key";
        REQUIRE(tls::write_pair(pair, cert, key, tls::Overwrite::never).ok());
        CHECK(util::file_mode(key) == 0600);
        auto again = tls::write_pair(pair, cert, key, tls::Overwrite::never);
        REQUIRE_FALSE(again.ok());
        CHECK(again.error().code == "cert.file_exists");
        CHECK(tls::write_pair(pair, cert, key, tls::Overwrite::force).ok());
        auto loaded = tls::load_pair_files(cert.string(), key.string());
        CHECK(loaded.ok());
    }
}
