// SPDX-License-Identifier: Apache-2.0
#include "core/crypto/seal.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/crypto/hash.hpp"
#include "core/util/ossl.hpp"
#include "core/util/random.hpp"

namespace vaultfwd::crypto {

namespace {

constexpr std::size_t k_point_size = 65; // 04 || X || Y on P-256
constexpr std::size_t k_iv_size = 12;
constexpr std::size_t k_tag_size = 16;

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

Error internal(const std::string& what) {
    return make_error("crypto.internal", what + ": " + ossl::last_error());
}

Error bad_public_key() { return make_error("crypto.public_key", "Invalid der public key"); }

bool is_p256(EVP_PKEY* key) {
    if (!EVP_PKEY_is_a(key, "EC"))
        return false;
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
        1)
        return false;
    return std::string_view(group, len) == "prime256v1" || std::string_view(group, len) == "P-256";
}

// The key's public point, uncompressed, whatever form the key was encoded in.
std::optional<std::string> uncompressed_point(EVP_PKEY* key) {
    // Setting the conversion format only changes how the point is exported.
    EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                   OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED);
    unsigned char point[k_point_size + 8];
    std::size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        sizeof point, &len) != 1 ||
        len != k_point_size || point[0] != 0x04)
        return std::nullopt;
    return std::string(reinterpret_cast<char*>(point), len);
}

ossl::PkeyPtr parse_spki(std::string_view der) {
    const unsigned char* p = bytes(der);
    ossl::PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
    // Trailing bytes after the SPKI mean the caller passed something else.
    if (key && p != bytes(der) + der.size())
        key.reset();
    return key;
}

Result<ossl::PkeyPtr> parse_private_pem(std::string_view pem) {
    ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        return internal("cannot allocate a bio");
    ossl::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
        ossl::last_error();
        return make_error("crypto.private_key", "private key is not a readable PEM private key");
    }
    return key;
}

Result<std::string> ecdh_x(EVP_PKEY* own, EVP_PKEY* peer) {
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
    std::size_t len = 0;
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
        EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1)
        return internal("ecdh failed");
    std::string z(len, '\0');
    if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(z.data()), &len) != 1)
        return internal("ecdh failed");
    z.resize(len);
    return z;
}

// ANSI X9.63 KDF with SHA-256, one round: exactly the 32 bytes AES-256 needs.
std::string x963_kdf(std::string_view z, std::string_view shared_info) {
    std::string input(z);
    input.append("\x00\x00\x00\x01", 4);
    input.append(shared_info);
    return sha256(input);
}

// --- CBOR, only as much as the sealed box needs -------------------------------------------

void cbor_head(std::string& out, unsigned major, std::uint64_t value) {
    auto m = static_cast<unsigned char>(major << 5);
    if (value < 24) {
        out.push_back(static_cast<char>(m | value));
    } else if (value <= 0xff) {
        out.push_back(static_cast<char>(m | 24));
        out.push_back(static_cast<char>(value));
    } else if (value <= 0xffff) {
        out.push_back(static_cast<char>(m | 25));
        out.push_back(static_cast<char>(value >> 8));
        out.push_back(static_cast<char>(value));
    } else {
        out.push_back(static_cast<char>(m | 26));
        for (int shift = 24; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>(value >> shift));
    }
}

void cbor_text(std::string& out, std::string_view text) {
    cbor_head(out, 3, text.size());
    out.append(text);
}

// Footprint encodes byte fields as arrays of unsigned ints, one per byte, not CBOR byte strings.
void cbor_byte_array(std::string& out, std::string_view data) {
    cbor_head(out, 4, data.size());
    for (unsigned char b : data)
        cbor_head(out, 0, b);
}

class CborReader {
  public:
    explicit CborReader(std::string_view data) : m_data(data) {}
    bool at_end() const { return m_pos == m_data.size(); }

    // Reads one item head; false on truncation or an indefinite length.
    bool head(unsigned& major, std::uint64_t& value) {
        if (m_pos >= m_data.size())
            return false;
        auto first = static_cast<unsigned char>(m_data[m_pos++]);
        major = first >> 5;
        unsigned info = first & 0x1f;
        if (info < 24) {
            value = info;
            return true;
        }
        if (info > 27)
            return false;
        std::size_t n = std::size_t{1} << (info - 24);
        if (m_data.size() - m_pos < n)
            return false;
        value = 0;
        for (std::size_t i = 0; i < n; ++i)
            value = (value << 8) | static_cast<unsigned char>(m_data[m_pos++]);
        return true;
    }

    std::optional<std::string> text() {
        unsigned major = 0;
        std::uint64_t len = 0;
        if (!head(major, len) || major != 3 || len > m_data.size() - m_pos)
            return std::nullopt;
        std::string s(m_data.substr(m_pos, len));
        m_pos += len;
        return s;
    }

    // An array of unsigned ints below 256, or a byte string.
    std::optional<std::string> byte_field() {
        unsigned major = 0;
        std::uint64_t len = 0;
        if (!head(major, len))
            return std::nullopt;
        if (major == 2) {
            if (len > m_data.size() - m_pos)
                return std::nullopt;
            std::string s(m_data.substr(m_pos, len));
            m_pos += len;
            return s;
        }
        if (major != 4 || len > m_data.size() - m_pos)
            return std::nullopt;
        std::string s;
        s.reserve(len);
        for (std::uint64_t i = 0; i < len; ++i) {
            unsigned m = 0;
            std::uint64_t b = 0;
            if (!head(m, b) || m != 0 || b > 0xff)
                return std::nullopt;
            s.push_back(static_cast<char>(b));
        }
        return s;
    }

    std::optional<std::uint64_t> unsigned_int() {
        unsigned major = 0;
        std::uint64_t v = 0;
        if (!head(major, v) || major != 0)
            return std::nullopt;
        return v;
    }

  private:
    std::string_view m_data;
    std::size_t m_pos = 0;
};

struct SealedBox {
    std::string epk, iv, c;
};

std::optional<SealedBox> decode_box(std::string_view cbor) {
    CborReader r(cbor);
    unsigned major = 0;
    std::uint64_t entries = 0;
    if (!r.head(major, entries) || major != 5 || entries > 8)
        return std::nullopt;
    std::map<std::string, std::string> fields;
    for (std::uint64_t i = 0; i < entries; ++i) {
        auto key = r.text();
        if (!key)
            return std::nullopt;
        if (*key == "v") {
            if (!r.unsigned_int())
                return std::nullopt;
            continue;
        }
        auto value = r.byte_field();
        if (!value)
            return std::nullopt;
        fields[*key] = std::move(*value);
    }
    if (!r.at_end() || !fields.count("epk") || !fields.count("iv") || !fields.count("c"))
        return std::nullopt;
    return SealedBox{fields["epk"], fields["iv"], fields["c"]};
}

// --- the two algorithms ---------------------------------------------------------------------

Result<std::string> rsa_seal(EVP_PKEY* key, std::string_view plaintext) {
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
        return internal("rsa encryption setup failed");
    auto modulus = static_cast<std::size_t>(EVP_PKEY_get_size(key));
    if (plaintext.size() + 11 > modulus)
        return make_error("crypto.message_too_long", "message too long");
    std::size_t len = 0;
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, bytes(plaintext), plaintext.size()) != 1)
        return internal("rsa encryption failed");
    std::string out(len, '\0');
    if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                         bytes(plaintext), plaintext.size()) != 1)
        return internal("rsa encryption failed");
    out.resize(len);
    return out;
}

Result<std::string> rsa_open(EVP_PKEY* key, std::string_view ciphertext) {
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
        return internal("rsa decryption setup failed");
#ifdef OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION
    // A checking tool must say "wrong key", not print random bytes (OpenSSL >= 3.2 default).
    unsigned int implicit = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION, &implicit),
        OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX_set_params(ctx.get(), params);
#endif
    std::size_t len = 0;
    if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, bytes(ciphertext), ciphertext.size()) != 1)
        return internal("rsa decryption failed");
    std::string out(len, '\0');
    if (EVP_PKEY_decrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                         bytes(ciphertext), ciphertext.size()) != 1) {
        ossl::last_error();
        return make_error("crypto.decrypt",
                          "rsa ciphertext does not decrypt with this key (wrong key or damaged)");
    }
    out.resize(len);
    return out;
}

Result<std::string> ecies_seal(EVP_PKEY* recipient, std::string_view plaintext) {
    auto recipient_point = uncompressed_point(recipient);
    if (!recipient_point)
        return bad_public_key();
    ossl::PkeyPtr ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!ephemeral)
        return internal("cannot make an ephemeral key");
    auto epk = uncompressed_point(ephemeral.get());
    if (!epk)
        return internal("cannot export the ephemeral key");
    auto z = ecdh_x(ephemeral.get(), recipient);
    if (!z)
        return z.error();
    std::string key = x963_kdf(*z, *epk);
    std::string iv = util::random_bytes(k_iv_size);

    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    std::string c(plaintext.size() + k_tag_size, '\0');
    auto* out = reinterpret_cast<unsigned char*>(c.data());
    if (!ctx ||
        EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), bytes(key), bytes(iv), nullptr) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(*recipient_point),
                          static_cast<int>(recipient_point->size())) != 1 ||
        EVP_EncryptUpdate(ctx.get(), out, &len, bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1)
        return internal("aes-gcm encryption failed");
    int total = len;
    if (EVP_EncryptFinal_ex(ctx.get(), out + total, &len) != 1)
        return internal("aes-gcm encryption failed");
    total += len;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(k_tag_size),
                            out + total) != 1)
        return internal("aes-gcm tag failed");
    c.resize(static_cast<std::size_t>(total) + k_tag_size);

    std::string box;
    box.reserve(16 + 2 * (epk->size() + iv.size() + c.size()));
    cbor_head(box, 5, 4);
    cbor_text(box, "v");
    cbor_head(box, 0, 1);
    cbor_text(box, "epk");
    cbor_byte_array(box, *epk);
    cbor_text(box, "iv");
    cbor_byte_array(box, iv);
    cbor_text(box, "c");
    cbor_byte_array(box, c);
    return box;
}

Result<std::string> ecies_open(EVP_PKEY* own, std::string_view sealed) {
    auto box = decode_box(sealed);
    if (!box)
        return make_error("crypto.sealed_box",
                          "sealed box is not a cbor map with \"epk\", \"iv\" and \"c\"");
    if (box->iv.size() != k_iv_size || box->c.size() < k_tag_size)
        return make_error("crypto.sealed_box", "sealed box has a bad iv or ciphertext length");
    auto own_point = uncompressed_point(own);
    if (!own_point)
        return internal("cannot export the private key's public point");
    ossl::PkeyPtr peer(EVP_PKEY_new());
    if (!peer || EVP_PKEY_copy_parameters(peer.get(), own) != 1)
        return internal("cannot make the ephemeral key");
    if (EVP_PKEY_set1_encoded_public_key(peer.get(), bytes(box->epk), box->epk.size()) != 1) {
        ossl::last_error();
        return make_error("crypto.sealed_box", "sealed box has an invalid ephemeral key");
    }
    auto z = ecdh_x(own, peer.get());
    if (!z)
        return z.error();
    // The KDF runs over epk exactly as the box carries it.
    std::string key = x963_kdf(*z, box->epk);

    std::string_view ct(box->c.data(), box->c.size() - k_tag_size);
    std::string tag = box->c.substr(ct.size());
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    std::string plain(ct.size(), '\0');
    auto* out = reinterpret_cast<unsigned char*>(plain.data());
    int len = 0;
    if (!ctx ||
        EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), bytes(key), bytes(box->iv), nullptr) !=
            1 ||
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(*own_point),
                          static_cast<int>(own_point->size())) != 1 ||
        EVP_DecryptUpdate(ctx.get(), out, &len, bytes(ct), static_cast<int>(ct.size())) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(k_tag_size),
                            tag.data()) != 1)
        return internal("aes-gcm decryption failed");
    int total = len;
    if (EVP_DecryptFinal_ex(ctx.get(), out + total, &len) != 1) {
        ossl::last_error();
        return make_error("crypto.decrypt",
                          "sealed box does not open with this key (wrong key or damaged)");
    }
    plain.resize(static_cast<std::size_t>(total + len));
    return plain;
}

} // namespace

std::optional<SealAlgorithm> seal_algorithm_from_name(std::string_view name) {
    if (name == "rsa_pkcs1v15")
        return SealAlgorithm::rsa_pkcs1v15;
    if (name == "ecies_p256_x963_sha256_aes_gcm")
        return SealAlgorithm::ecies_p256_x963_sha256_aes_gcm;
    return std::nullopt;
}

std::string_view seal_algorithm_name(SealAlgorithm algorithm) {
    return algorithm == SealAlgorithm::rsa_pkcs1v15 ? "rsa_pkcs1v15"
                                                    : "ecies_p256_x963_sha256_aes_gcm";
}

Result<std::string> seal(SealAlgorithm algorithm, std::string_view public_key_der,
                         std::string_view plaintext) {
    auto key = parse_spki(public_key_der);
    if (!key) {
        ossl::last_error();
        return bad_public_key();
    }
    if (algorithm == SealAlgorithm::rsa_pkcs1v15) {
        if (!EVP_PKEY_is_a(key.get(), "RSA"))
            return bad_public_key();
        return rsa_seal(key.get(), plaintext);
    }
    if (!is_p256(key.get()))
        return bad_public_key();
    return ecies_seal(key.get(), plaintext);
}

Result<SealAlgorithm> algorithm_for_private_key(std::string_view private_key_pem) {
    auto key = parse_private_pem(private_key_pem);
    if (!key)
        return key.error();
    if (EVP_PKEY_is_a(key->get(), "RSA"))
        return SealAlgorithm::rsa_pkcs1v15;
    if (is_p256(key->get()))
        return SealAlgorithm::ecies_p256_x963_sha256_aes_gcm;
    return make_error("crypto.private_key", "private key is neither RSA nor EC P-256");
}

Result<std::string> open(SealAlgorithm algorithm, std::string_view private_key_pem,
                         std::string_view sealed) {
    auto key = parse_private_pem(private_key_pem);
    if (!key)
        return key.error();
    if (algorithm == SealAlgorithm::rsa_pkcs1v15) {
        if (!EVP_PKEY_is_a(key->get(), "RSA"))
            return make_error("crypto.private_key", "rsa_pkcs1v15 needs an RSA private key");
        return rsa_open(key->get(), sealed);
    }
    if (!is_p256(key->get()))
        return make_error("crypto.private_key",
                          "ecies_p256_x963_sha256_aes_gcm needs an EC P-256 private key");
    return ecies_open(key->get(), sealed);
}

TestKeyPair make_test_key_pair(SealAlgorithm algorithm, int rsa_bits) {
    ossl::PkeyPtr key(algorithm == SealAlgorithm::rsa_pkcs1v15
                          ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                                              static_cast<std::size_t>(rsa_bits))
                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key)
        throw std::runtime_error("key generation failed: " + ossl::last_error());
    TestKeyPair pair;
    int der_len = i2d_PUBKEY(key.get(), nullptr);
    if (der_len <= 0)
        throw std::runtime_error("public key export failed: " + ossl::last_error());
    pair.public_key_der.resize(static_cast<std::size_t>(der_len));
    auto* p = reinterpret_cast<unsigned char*>(pair.public_key_der.data());
    i2d_PUBKEY(key.get(), &p);
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1)
        throw std::runtime_error("private key export failed: " + ossl::last_error());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    pair.private_key_pem.assign(data, static_cast<std::size_t>(n));
    return pair;
}

} // namespace vaultfwd::crypto
