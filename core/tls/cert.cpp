// SPDX-License-Identifier: Apache-2.0
#include "core/tls/cert.hpp"

#include <arpa/inet.h>
#include <ctime>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::tls {

namespace {

Error tls_error(const std::string& code, const std::string& what) {
    return make_error(code, what + ": " + ossl::last_error());
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ossl::X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

std::string name_oneline(X509_NAME* name) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string asn1_time_iso(const ASN1_TIME* t, std::int64_t* epoch) {
    struct tm tm {};
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return "";
    if (epoch)
        *epoch = static_cast<std::int64_t>(timegm(&tm));
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string bio_to_string(BIO* bio) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(len));
}

// Java (keytool, the JSSE trust store) reads a PKCS#12 certificate as a trusted entry only when
// its bag carries Oracle's trusted-key-usage attribute; keytool writes anyExtendedKeyUsage.
bool add_java_trust(PKCS12_SAFEBAG* bag) {
    std::unique_ptr<ASN1_OBJECT, void (*)(ASN1_OBJECT*)> usage(
        OBJ_txt2obj(k_any_extended_key_usage, 1), ASN1_OBJECT_free);
    // Length -1 with an object type: the attribute value is the ASN1_OBJECT itself (copied).
    return usage && PKCS12_add1_attr_by_txt(bag, k_java_trusted_key_usage, V_ASN1_OBJECT,
                                            reinterpret_cast<const unsigned char*>(usage.get()),
                                            -1) == 1;
}

} // namespace

ossl::PkeyPtr generate_key(KeyType type) {
    if (type == KeyType::rsa2048)
        return ossl::PkeyPtr(EVP_RSA_gen(2048));
    return ossl::PkeyPtr(EVP_EC_gen("P-256"));
}

Result<KeyPair> issue(const IssueOptions& opts, const KeyPair* issuer) {
    KeyPair out;
    out.key = generate_key(opts.key_type);
    if (!out.key)
        return tls_error("tls.keygen", "cannot generate a key");
    out.cert.reset(X509_new());
    X509* cert = out.cert.get();
    X509_set_version(cert, 2);
    // 16 random bytes, top bit cleared: a positive serial as RFC 5280 asks.
    unsigned char serial_bytes[16];
    RAND_bytes(serial_bytes, sizeof serial_bytes);
    serial_bytes[0] &= 0x7f;
    serial_bytes[0] |= 0x01;
    ossl::BignumPtr bn(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
    BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert));
    X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(opts.not_before_offset_days) * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(opts.days) * 86400);
    X509_set_pubkey(cert, out.key.get());
    X509_NAME* name = X509_get_subject_name(cert);
    if (!opts.organization.empty())
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(opts.organization.c_str()),
                                   -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(opts.common_name.c_str()), -1,
                               -1, 0);
    X509* issuer_cert = issuer ? issuer->cert.get() : cert;
    EVP_PKEY* issuer_key = issuer ? issuer->key.get() : out.key.get();
    X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));

    bool ok = add_ext(cert, issuer_cert, NID_subject_key_identifier, "hash");
    if (issuer)
        ok = ok && add_ext(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
    switch (opts.usage) {
    case Usage::ca:
        ok = ok && add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
        break;
    case Usage::server:
    case Usage::client:
    case Usage::server_and_client: {
        ok = ok && add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(cert, issuer_cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        std::string eku = opts.usage == Usage::server   ? "serverAuth"
                          : opts.usage == Usage::client ? "clientAuth"
                                                        : "serverAuth,clientAuth";
        ok = ok && add_ext(cert, issuer_cert, NID_ext_key_usage, eku);
        break;
    }
    }
    std::vector<std::string> sans;
    for (const auto& d : opts.dns_names)
        sans.push_back("DNS:" + d);
    for (const auto& ip : opts.ip_addresses)
        sans.push_back("IP:" + ip);
    if (!sans.empty())
        ok = ok && add_ext(cert, issuer_cert, NID_subject_alt_name, util::join(sans, ","));
    if (!ok)
        return tls_error("tls.issue", "cannot build the certificate for " + opts.common_name);
    if (X509_sign(cert, issuer_key, EVP_sha256()) == 0)
        return tls_error("tls.issue", "cannot sign the certificate for " + opts.common_name);
    return out;
}

Result<KeyPair> make_ca(const std::string& common_name, int days, KeyType type) {
    IssueOptions opts;
    opts.common_name = common_name;
    opts.usage = Usage::ca;
    opts.days = days;
    opts.key_type = type;
    return issue(opts, nullptr);
}

std::string cert_to_pem(X509* cert) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert);
    return bio_to_string(bio.get());
}

std::string key_to_pem(EVP_PKEY* key) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    return bio_to_string(bio.get());
}

std::string cert_to_der(X509* cert) {
    unsigned char* buf = nullptr;
    int len = i2d_X509(cert, &buf);
    if (len <= 0)
        return {};
    std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(len));
    OPENSSL_free(buf);
    return out;
}

Result<std::string> to_pkcs12(X509* cert, EVP_PKEY* key, const std::string& password,
                              const std::vector<X509*>& chain) {
    // PKCS12_create cannot add the attribute Java needs (OpenSSL 3.0 has no -jdktrust), so the
    // bags are built here, with PKCS12_create's defaults: AES-256-CBC, 2048 iterations.
    using Bags = std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), void (*)(STACK_OF(PKCS12_SAFEBAG)*)>;
    auto new_bags = [] {
        return Bags(sk_PKCS12_SAFEBAG_new_null(), [](STACK_OF(PKCS12_SAFEBAG)* s) {
            sk_PKCS12_SAFEBAG_pop_free(s, PKCS12_SAFEBAG_free);
        });
    };
    std::unique_ptr<STACK_OF(PKCS7), void (*)(STACK_OF(PKCS7)*)> safes(
        sk_PKCS7_new_null(), [](STACK_OF(PKCS7)* s) { sk_PKCS7_pop_free(s, PKCS7_free); });
    auto failed = [] { return tls_error("tls.pkcs12", "cannot build the PKCS#12 bundle"); };
    const char* pass = password.c_str();
    constexpr int k_pbe = NID_aes_256_cbc;
    constexpr const char* k_alias = "vaultfwd";

    unsigned char key_id[EVP_MAX_MD_SIZE];
    unsigned int key_id_len = 0;
    if (key && X509_digest(cert, EVP_sha1(), key_id, &key_id_len) != 1)
        return failed();

    // The stacks exist beforehand, so the PKCS12_add_* calls push onto them in place.
    Bags cert_bags = new_bags();
    auto* bags = cert_bags.get();
    auto* safe_list = safes.get();
    if (!bags || !safe_list)
        return failed();
    PKCS12_SAFEBAG* bag = PKCS12_add_cert(&bags, cert);
    if (!bag || PKCS12_add_friendlyname_utf8(bag, k_alias, -1) != 1)
        return failed();
    // With a key, the certificate belongs to the key entry (same local key id); without one, it
    // and the chain are trust anchors.
    if (key ? PKCS12_add_localkeyid(bag, key_id, static_cast<int>(key_id_len)) != 1
            : !add_java_trust(bag))
        return failed();
    for (X509* c : chain) {
        bag = PKCS12_add_cert(&bags, c);
        if (!bag || (!key && !add_java_trust(bag)))
            return failed();
    }
    if (PKCS12_add_safe(&safe_list, bags, k_pbe, PKCS12_DEFAULT_ITER, pass) != 1)
        return failed();

    if (key) {
        Bags key_bags = new_bags();
        auto* kbags = key_bags.get();
        bag = kbags ? PKCS12_add_key(&kbags, key, 0, PKCS12_DEFAULT_ITER, k_pbe, pass) : nullptr;
        if (!bag || PKCS12_add_friendlyname_utf8(bag, k_alias, -1) != 1 ||
            PKCS12_add_localkeyid(bag, key_id, static_cast<int>(key_id_len)) != 1)
            return failed();
        // The key bag is shrouded (encrypted itself): its safe is not encrypted again.
        if (PKCS12_add_safe(&safe_list, kbags, -1, 0, nullptr) != 1)
            return failed();
    }

    std::unique_ptr<PKCS12, void (*)(PKCS12*)> p12(PKCS12_add_safes(safe_list, 0), PKCS12_free);
    if (!p12 ||
        PKCS12_set_mac(p12.get(), pass, -1, nullptr, 0, PKCS12_DEFAULT_ITER, EVP_sha256()) != 1)
        return failed();
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (i2d_PKCS12_bio(bio.get(), p12.get()) != 1)
        return failed();
    return bio_to_string(bio.get());
}

Result<std::vector<ossl::X509Ptr>> load_certs_pem(std::string_view pem) {
    ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    std::vector<ossl::X509Ptr> out;
    while (true) {
        X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (!cert)
            break;
        out.emplace_back(cert);
    }
    ERR_clear_error();
    if (out.empty())
        return make_error("tls.bad_pem", pem.find("-----BEGIN") == std::string_view::npos
                                             ? "no PEM certificate found (expected a '-----BEGIN "
                                               "CERTIFICATE-----' block)"
                                             : "the PEM certificate cannot be parsed");
    return out;
}

Result<ossl::X509Ptr> load_cert_pem(std::string_view pem) {
    auto certs = load_certs_pem(pem);
    if (!certs)
        return certs.error();
    return std::move(certs->front());
}

Result<ossl::PkeyPtr> load_key_pem(std::string_view pem) {
    ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    ossl::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (!key)
        return make_error("tls.bad_key", pem.find("-----BEGIN") == std::string_view::npos
                                             ? "no PEM private key found (expected a '-----BEGIN "
                                               "PRIVATE KEY-----' block)"
                                             : "the PEM private key cannot be parsed (encrypted "
                                               "keys are not supported)");
    return key;
}

Result<KeyPair> load_pair_files(const std::string& cert_file, const std::string& key_file) {
    auto cert_text = util::read_file(cert_file);
    if (!cert_text)
        return cert_text.error();
    auto key_text = util::read_file(key_file);
    if (!key_text)
        return key_text.error();
    auto cert = load_cert_pem(*cert_text);
    if (!cert)
        return make_error(cert.error().code, cert_file + ": " + cert.error().message);
    auto key = load_key_pem(*key_text);
    if (!key)
        return make_error(key.error().code, key_file + ": " + key.error().message);
    if (!key_matches(cert->get(), key->get()))
        return make_error("tls.key_mismatch", "the key in " + key_file +
                                                  " does not belong to the certificate in " +
                                                  cert_file);
    return KeyPair{std::move(*cert), std::move(*key)};
}

void prepare_for_sharing(X509* cert) {
    X509_check_purpose(cert, -1, 0); // documented to cache the extensions and nothing else
}

bool key_matches(X509* cert, EVP_PKEY* key) {
    EVP_PKEY* pub = X509_get0_pubkey(cert);
    return pub && EVP_PKEY_eq(pub, key) == 1;
}

CertInfo inspect(X509* cert) {
    CertInfo info;
    info.subject = name_oneline(X509_get_subject_name(cert));
    info.issuer = name_oneline(X509_get_issuer_name(cert));
    char cn[256] = {0};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
        info.common_name = cn;
    ossl::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    char* dec = BN_bn2dec(serial.get());
    char* hex = BN_bn2hex(serial.get());
    info.serial_decimal = dec;
    info.serial_hex = hex;
    OPENSSL_free(dec);
    OPENSSL_free(hex);
    info.not_before = asn1_time_iso(X509_get0_notBefore(cert), nullptr);
    info.not_after = asn1_time_iso(X509_get0_notAfter(cert), &info.not_after_epoch);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, EVP_sha256(), md, &len);
    std::string fp;
    static const char* digits = "0123456789ABCDEF";
    for (unsigned i = 0; i < len; ++i) {
        if (i)
            fp.push_back(':');
        fp.push_back(digits[md[i] >> 4]);
        fp.push_back(digits[md[i] & 15]);
    }
    info.sha256_fingerprint = fp;
    info.self_signed = X509_check_issued(cert, cert) == X509_V_OK;
    info.is_ca = X509_check_ca(cert) > 0;
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
            if (gn->type == GEN_DNS) {
                info.dns_names.emplace_back(
                    reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                    static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)));
            } else if (gn->type == GEN_IPADD) {
                char buf[INET6_ADDRSTRLEN] = {0};
                int ilen = ASN1_STRING_length(gn->d.iPAddress);
                const unsigned char* data = ASN1_STRING_get0_data(gn->d.iPAddress);
                if (ilen == 4)
                    inet_ntop(AF_INET, data, buf, sizeof buf);
                else if (ilen == 16)
                    inet_ntop(AF_INET6, data, buf, sizeof buf);
                info.ip_addresses.emplace_back(buf);
            }
        }
        GENERAL_NAMES_free(names);
    }
    return info;
}

std::int64_t now_epoch() { return static_cast<std::int64_t>(std::time(nullptr)); }

} // namespace vaultfwd::tls
