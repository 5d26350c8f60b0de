// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/crypto/hash.hpp"
#include "core/crypto/seal.hpp"
#include "core/util/ossl.hpp"
#include "core/util/strings.hpp"

using namespace vaultfwd;

namespace {

// An independent reading of Footprint's sealed box, written from the format description only
// (CBOR map v/epk/iv/c, arrays of unsigned ints), so that seal() is checked against something
// other than itself.
struct HandBox {
    std::uint64_t v = 0;
    bool has_v = false;
    std::vector<std::string> key_order;
    std::string epk, iv, c;
};

std::uint64_t read_uint(const std::string& d, std::size_t& i, unsigned expect_major) {
    auto b = static_cast<unsigned char>(d.at(i++));
    REQUIRE((b >> 5) == expect_major);
    unsigned info = b & 0x1f;
    if (info < 24)
        return info;
    REQUIRE(info <= 26);
    std::size_t n = info == 24 ? 1 : info == 25 ? 2 : 4;
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k)
        v = (v << 8) | static_cast<unsigned char>(d.at(i++));
    // Footprint's encoder writes the shortest form; so must we.
    if (info == 24)
        REQUIRE(v >= 24);
    if (info == 25)
        REQUIRE(v > 0xff);
    return v;
}

HandBox hand_decode(const std::string& d) {
    HandBox box;
    std::size_t i = 0;
    auto entries = read_uint(d, i, 5);
    for (std::uint64_t e = 0; e < entries; ++e) {
        auto klen = read_uint(d, i, 3);
        std::string key = d.substr(i, klen);
        i += klen;
        box.key_order.push_back(key);
        if (key == "v") {
            box.v = read_uint(d, i, 0);
            box.has_v = true;
            continue;
        }
        auto n = read_uint(d, i, 4);
        std::string bytes;
        for (std::uint64_t k = 0; k < n; ++k) {
            auto byte = read_uint(d, i, 0);
            REQUIRE(byte <= 0xff);
            bytes.push_back(static_cast<char>(byte));
        }
        if (key == "epk")
            box.epk = bytes;
        else if (key == "iv")
            box.iv = bytes;
        else if (key == "c")
            box.c = bytes;
    }
    REQUIRE(i == d.size());
    return box;
}

const unsigned char* u(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

ossl::PkeyPtr read_private(const std::string& pem) {
    ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return ossl::PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string encoded_point(EVP_PKEY* key) {
    unsigned char buf[80];
    std::size_t len = 0;
    REQUIRE(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
                                            sizeof buf, &len) == 1);
    return std::string(reinterpret_cast<char*>(buf), len);
}

std::string ecdh(EVP_PKEY* own, EVP_PKEY* peer) {
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
    REQUIRE(EVP_PKEY_derive_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_derive_set_peer(ctx.get(), peer) == 1);
    std::size_t len = 0;
    REQUIRE(EVP_PKEY_derive(ctx.get(), nullptr, &len) == 1);
    std::string z(len, '\0');
    REQUIRE(EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(z.data()), &len) == 1);
    z.resize(len);
    return z;
}

std::string sha256_evp(const std::string& data) {
    unsigned char out[32];
    unsigned int len = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) == 1);
    return std::string(reinterpret_cast<char*>(out), len);
}

// Opens a box per the note: ECDH x-coordinate, K = SHA-256(Z || 00000001 || epk), AES-256-GCM
// with the recipient's uncompressed point as AAD, tag at the end of c.
std::string hand_open(const std::string& private_pem, const HandBox& box) {
    auto own = read_private(private_pem);
    REQUIRE(own);
    ossl::PkeyPtr peer(EVP_PKEY_new());
    REQUIRE(EVP_PKEY_copy_parameters(peer.get(), own.get()) == 1);
    REQUIRE(EVP_PKEY_set1_encoded_public_key(peer.get(), u(box.epk), box.epk.size()) == 1);
    std::string z = ecdh(own.get(), peer.get());
    REQUIRE(z.size() == 32);
    std::string key = sha256_evp(z + std::string("\x00\x00\x00\x01", 4) + box.epk);
    std::string aad = encoded_point(own.get());
    REQUIRE(aad.size() == 65);
    REQUIRE(box.c.size() >= 16);
    std::string ct = box.c.substr(0, box.c.size() - 16);
    std::string tag = box.c.substr(box.c.size() - 16);
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    REQUIRE(EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1);
    REQUIRE(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) == 1);
    REQUIRE(EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(box.iv)) == 1);
    int len = 0;
    REQUIRE(EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1);
    std::string plain(ct.size() + 16, '\0');
    REQUIRE(EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                              u(ct), static_cast<int>(ct.size())) == 1);
    int total = len;
    REQUIRE(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) == 1);
    if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + total,
                            &len) != 1)
        throw std::runtime_error("gcm tag mismatch");
    plain.resize(static_cast<std::size_t>(total + len));
    return plain;
}

// Seals per the note with the test's own code, to check that open() reads Footprint's boxes.
std::string hand_seal(const std::string& recipient_der, const std::string& plaintext,
                      bool with_version) {
    const unsigned char* p = u(recipient_der);
    ossl::PkeyPtr recipient(d2i_PUBKEY(nullptr, &p, static_cast<long>(recipient_der.size())));
    REQUIRE(recipient);
    ossl::PkeyPtr eph(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    std::string epk = encoded_point(eph.get());
    std::string z = ecdh(eph.get(), recipient.get());
    std::string key = sha256_evp(z + std::string("\x00\x00\x00\x01", 4) + epk);
    std::string iv(12, '\0');
    REQUIRE(RAND_bytes(reinterpret_cast<unsigned char*>(iv.data()), 12) == 1);
    std::string aad = encoded_point(recipient.get());
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    REQUIRE(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u(key), u(iv)) == 1);
    int len = 0;
    REQUIRE(EVP_EncryptUpdate(ctx.get(), nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1);
    std::string c(plaintext.size() + 16, '\0');
    auto* out = reinterpret_cast<unsigned char*>(c.data());
    REQUIRE(EVP_EncryptUpdate(ctx.get(), out, &len, u(plaintext),
                              static_cast<int>(plaintext.size())) == 1);
    int total = len;
    REQUIRE(EVP_EncryptFinal_ex(ctx.get(), out + total, &len) == 1);
    total += len;
    REQUIRE(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, out + total) == 1);
    c.resize(static_cast<std::size_t>(total) + 16);

    auto head = [](std::string& o, unsigned major, std::size_t v) {
        if (v < 24) {
            o.push_back(static_cast<char>((major << 5) | v));
        } else if (v < 256) {
            o.push_back(static_cast<char>((major << 5) | 24));
            o.push_back(static_cast<char>(v));
        } else {
            o.push_back(static_cast<char>((major << 5) | 25));
            o.push_back(static_cast<char>(v >> 8));
            o.push_back(static_cast<char>(v & 0xff));
        }
    };
    auto field = [&](std::string& o, const std::string& name, const std::string& bytes) {
        head(o, 3, name.size());
        o += name;
        head(o, 4, bytes.size());
        for (unsigned char b : bytes)
            head(o, 0, b);
    };
    std::string box;
    head(box, 5, with_version ? 4 : 3);
    // A different key order than seal() writes, to show open() does not depend on it.
    field(box, "c", c);
    field(box, "iv", iv);
    if (with_version) {
        head(box, 3, 1);
        box += "v";
        head(box, 0, 1);
    }
    field(box, "epk", epk);
    return box;
}

std::string rsa_decrypt_evp(const std::string& private_pem, const std::string& ciphertext) {
    auto key = read_private(private_pem);
    REQUIRE(key);
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    REQUIRE(EVP_PKEY_decrypt_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1);
    std::size_t len = 0;
    REQUIRE(EVP_PKEY_decrypt(ctx.get(), nullptr, &len, u(ciphertext), ciphertext.size()) == 1);
    std::string out(len, '\0');
    REQUIRE(EVP_PKEY_decrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                             u(ciphertext), ciphertext.size()) == 1);
    out.resize(len);
    return out;
}

} // namespace

TEST_SUITE("crypto") {
    TEST_CASE("digests and HMACs match OpenSSL's one-shot functions, for every algorithm, on two threads") {
        // digest() and hmac() keep fetched algorithms and a context per thread: each call must
        // still start clean (a new key, a new algorithm, an empty key or text).
        const std::vector<std::pair<crypto::Digest, const EVP_MD*>> algs = {
            {crypto::Digest::md5, EVP_md5()}, {crypto::Digest::sha1, EVP_sha1()}, {crypto::Digest::sha256, EVP_sha256()},
            {crypto::Digest::sha384, EVP_sha384()}, {crypto::Digest::sha512, EVP_sha512()}};
        auto check_all = [&](const std::string& salt) {
            for (const auto& [alg, md] : algs) {
                for (const std::string& key : {std::string(), std::string("k"), std::string(200, 'K') + salt}) {
                    for (const std::string& text : {std::string(), std::string("Hi There") + salt, std::string(5000, 't')}) {
                        unsigned char out[EVP_MAX_MD_SIZE];
                        unsigned int len = 0;
                        REQUIRE(EVP_Digest(text.data(), text.size(), out, &len, md, nullptr) == 1);
                        CHECK(crypto::digest(alg, text) == std::string(reinterpret_cast<char*>(out), len));
                        static const unsigned char empty = 0;
                        REQUIRE(HMAC(md, key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data()),
                                     static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(text.data()),
                                     text.size(), out, &len));
                        CHECK(crypto::hmac(alg, key, text) == std::string(reinterpret_cast<char*>(out), len));
                    }
                }
            }
        };
        std::thread other([&] { check_all("other thread"); });
        check_all("this thread");
        other.join();
    }

    TEST_CASE("ecies sealed box has Footprint's exact CBOR layout and opens independently") {
        auto pair = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        const std::string secret = "4242424242424242 — Doè";
        auto sealed =
            crypto::seal(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.public_key_der, secret);
        REQUIRE(sealed.ok());
        // a4 (map of 4), 61 76 ("v"), 01, 63 65 70 6b ("epk"), 98 41 (array of 65), 04 (first byte)
        CHECK(util::to_hex(sealed->substr(0, 11)) == "a46176016365706b984104");
        HandBox box = hand_decode(*sealed);
        CHECK(box.key_order == std::vector<std::string>{"v", "epk", "iv", "c"});
        CHECK(box.has_v);
        CHECK(box.v == 1);
        CHECK(box.epk.size() == 65);
        CHECK(static_cast<unsigned char>(box.epk[0]) == 0x04);
        CHECK(box.iv.size() == 12);
        CHECK(box.c.size() == secret.size() + 16);
        CHECK(hand_open(pair.private_key_pem, box) == secret);

        // Fresh ephemeral key and IV each time.
        auto again =
            crypto::seal(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.public_key_der, secret);
        REQUIRE(again.ok());
        CHECK(*again != *sealed);
        CHECK(hand_decode(*again).epk != box.epk);

        // Tampering is caught by the tag.
        HandBox broken = box;
        broken.c[0] = static_cast<char>(broken.c[0] ^ 1);
        CHECK_THROWS(hand_open(pair.private_key_pem, broken));
    }

    TEST_CASE("ecies open reads boxes sealed by an independent encoder, legacy ones too") {
        auto pair = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        for (bool with_version : {true, false}) {
            CAPTURE(with_version);
            auto box = hand_seal(pair.public_key_der, "hello footprint", with_version);
            auto opened =
                crypto::open(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.private_key_pem, box);
            REQUIRE(opened.ok());
            CHECK(*opened == "hello footprint");
        }
        // The round trip through our own seal, with an empty plaintext.
        auto empty = crypto::seal(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.public_key_der, "");
        REQUIRE(empty.ok());
        CHECK(*crypto::open(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.private_key_pem,
                            *empty) == "");
        // A long plaintext makes "c" a two-byte-length array.
        std::string big(300, 'x');
        auto long_box = crypto::seal(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.public_key_der, big);
        REQUIRE(long_box.ok());
        CHECK(hand_open(pair.private_key_pem, hand_decode(*long_box)) == big);
    }

    TEST_CASE("ecies open refuses the wrong key, damaged boxes and non-CBOR input") {
        auto pair = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        auto other = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        auto box = *crypto::seal(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.public_key_der, "x");
        auto wrong = crypto::open(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, other.private_key_pem, box);
        REQUIRE_FALSE(wrong.ok());
        CHECK(wrong.error().code == "crypto.decrypt");
        auto junk = crypto::open(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.private_key_pem, "nope");
        REQUIRE_FALSE(junk.ok());
        CHECK(junk.error().code == "crypto.sealed_box");
        auto truncated = crypto::open(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, pair.private_key_pem,
                                      box.substr(0, box.size() - 3));
        REQUIRE_FALSE(truncated.ok());
        CHECK(truncated.error().code == "crypto.sealed_box");
        auto rsa = crypto::make_test_key_pair(crypto::SealAlgorithm::rsa_pkcs1v15, 1024);
        auto wrong_type = crypto::open(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, rsa.private_key_pem, box);
        REQUIRE_FALSE(wrong_type.ok());
        CHECK(wrong_type.error().code == "crypto.private_key");
    }

    TEST_CASE("rsa pkcs1 v1.5 encrypts to the SPKI key and decrypts with plain EVP") {
        auto pair = crypto::make_test_key_pair(crypto::SealAlgorithm::rsa_pkcs1v15);
        auto sealed = crypto::seal(crypto::SealAlgorithm::rsa_pkcs1v15, pair.public_key_der, "123-45-6789");
        REQUIRE(sealed.ok());
        CHECK(sealed->size() == 256); // 2048-bit key: 512 hex characters
        CHECK(util::to_hex(*sealed).size() == 512);
        CHECK(rsa_decrypt_evp(pair.private_key_pem, *sealed) == "123-45-6789");
        // Random padding: never the same ciphertext twice.
        CHECK(*crypto::seal(crypto::SealAlgorithm::rsa_pkcs1v15, pair.public_key_der, "123-45-6789") != *sealed);
        CHECK(*crypto::open(crypto::SealAlgorithm::rsa_pkcs1v15, pair.private_key_pem, *sealed) == "123-45-6789");

        auto too_long = crypto::seal(crypto::SealAlgorithm::rsa_pkcs1v15, pair.public_key_der, std::string(246, 'a'));
        REQUIRE_FALSE(too_long.ok());
        CHECK(too_long.error().code == "crypto.message_too_long");
        CHECK(crypto::seal(crypto::SealAlgorithm::rsa_pkcs1v15, pair.public_key_der, std::string(245, 'a')).ok());

        auto other = crypto::make_test_key_pair(crypto::SealAlgorithm::rsa_pkcs1v15, 1024);
        CHECK_FALSE(crypto::open(crypto::SealAlgorithm::rsa_pkcs1v15, other.private_key_pem, *sealed).ok());
    }

    TEST_CASE("public keys must be DER SPKI of the algorithm's key type") {
        auto ec = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        auto rsa = crypto::make_test_key_pair(crypto::SealAlgorithm::rsa_pkcs1v15, 1024);
        auto check_bad = [](crypto::SealAlgorithm alg, const std::string& der) {
            auto r = crypto::seal(alg, der, "x");
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().code == "crypto.public_key");
            CHECK(r.error().message == "Invalid der public key");
        };
        check_bad(crypto::SealAlgorithm::rsa_pkcs1v15, ec.public_key_der);
        check_bad(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, rsa.public_key_der);
        check_bad(crypto::SealAlgorithm::rsa_pkcs1v15, "not der at all");
        check_bad(crypto::SealAlgorithm::rsa_pkcs1v15, rsa.public_key_der + "x");
        check_bad(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, "");
        // A bare PKCS#1 RSAPublicKey is not an SPKI: Footprint refuses it too.
        {
            const unsigned char* p = reinterpret_cast<const unsigned char*>(rsa.public_key_der.data());
            ossl::PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(rsa.public_key_der.size())));
            REQUIRE(key);
            int len = i2d_PublicKey(key.get(), nullptr);
            REQUIRE(len > 0);
            std::string pkcs1(static_cast<std::size_t>(len), '\0');
            auto* out = reinterpret_cast<unsigned char*>(pkcs1.data());
            i2d_PublicKey(key.get(), &out);
            check_bad(crypto::SealAlgorithm::rsa_pkcs1v15, pkcs1);
        }
        // A P-384 key is EC but not the curve the algorithm names.
        ossl::PkeyPtr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
        int n = i2d_PUBKEY(p384.get(), nullptr);
        std::string der(static_cast<std::size_t>(n), '\0');
        auto* p = reinterpret_cast<unsigned char*>(der.data());
        i2d_PUBKEY(p384.get(), &p);
        check_bad(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, der);
    }

    TEST_CASE("algorithm names and private key types") {
        CHECK(crypto::seal_algorithm_from_name("rsa_pkcs1v15") == crypto::SealAlgorithm::rsa_pkcs1v15);
        CHECK(crypto::seal_algorithm_from_name("ecies_p256_x963_sha256_aes_gcm") ==
              crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        CHECK_FALSE(crypto::seal_algorithm_from_name("RSA_PKCS1V15").has_value());
        CHECK(crypto::seal_algorithm_name(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm) ==
              "ecies_p256_x963_sha256_aes_gcm");
        auto ec = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        auto rsa = crypto::make_test_key_pair(crypto::SealAlgorithm::rsa_pkcs1v15, 1024);
        CHECK(*crypto::algorithm_for_private_key(ec.private_key_pem) ==
              crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        CHECK(*crypto::algorithm_for_private_key(rsa.private_key_pem) == crypto::SealAlgorithm::rsa_pkcs1v15);
        auto bad = crypto::algorithm_for_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "crypto.private_key");
        CHECK(ec.private_key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
    }
}
