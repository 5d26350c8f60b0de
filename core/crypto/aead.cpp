// SPDX-License-Identifier: Apache-2.0
#include "core/crypto/aead.hpp"

#include <algorithm>
#include <climits>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/util/ossl.hpp"
#include "core/util/random.hpp"

namespace vaultfwd::crypto {

namespace {

unsigned char* bytes(std::string& s) {
    return reinterpret_cast<unsigned char*>(s.data());
}
const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

Error failed(const char* step) {
    return make_error("crypto.failed",
                      std::string("aes-256-gcm ") + step + " failed: " + ossl::last_error());
}

Result<void> check_lengths(std::size_t data_size, std::size_t aad_size) {
    // EVP lengths are ints.
    if (data_size > INT_MAX / 2 || aad_size > INT_MAX / 2)
        return make_error("crypto.too_large", "aes-256-gcm input is too large");
    return {};
}

Result<void> check_sizes(std::string_view key, std::size_t data_size, std::size_t aad_size) {
    if (key.size() != k_aead_key_size)
        return make_error("crypto.bad_key",
                          "aes-256-gcm key must be 32 bytes, got " + std::to_string(key.size()));
    return check_lengths(data_size, aad_size);
}

} // namespace

Result<std::string> aead_seal(std::string_view key, std::string_view plaintext,
                              std::string_view aad) {
    if (auto ok = check_sizes(key, plaintext.size(), aad.size()); !ok)
        return ok.error();
    std::string out = util::random_bytes(k_aead_nonce_size);
    out.resize(k_aead_nonce_size + plaintext.size() + k_aead_tag_size);
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, k_aead_nonce_size, nullptr) != 1 ||
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(out)) != 1)
        return failed("init");
    int len = 0;
    if (!aad.empty() &&
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1)
        return failed("aad");
    unsigned char* ct = bytes(out) + k_aead_nonce_size;
    if (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), ct, &len, bytes(plaintext),
                                                static_cast<int>(plaintext.size())) != 1)
        return failed("encrypt");
    int tail = 0;
    if (EVP_EncryptFinal_ex(ctx.get(), ct + plaintext.size(), &tail) != 1)
        return failed("final");
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, k_aead_tag_size,
                            ct + plaintext.size()) != 1)
        return failed("tag");
    return out;
}

Result<std::string> aead_open(std::string_view key, std::string_view sealed, std::string_view aad) {
    if (auto ok = check_sizes(key, sealed.size(), aad.size()); !ok)
        return ok.error();
    if (sealed.size() < k_aead_overhead)
        return make_error("crypto.truncated",
                          "sealed data is " + std::to_string(sealed.size()) +
                              " bytes, shorter than the 28 bytes of nonce and tag");
    std::string_view nonce = sealed.substr(0, k_aead_nonce_size);
    std::string_view ct = sealed.substr(k_aead_nonce_size, sealed.size() - k_aead_overhead);
    std::string tag(sealed.substr(sealed.size() - k_aead_tag_size));
    std::string out(ct.size(), '\0');
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, k_aead_nonce_size, nullptr) != 1 ||
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(nonce)) != 1)
        return failed("init");
    int len = 0;
    if (!aad.empty() &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1)
        return failed("aad");
    if (!ct.empty() &&
        EVP_DecryptUpdate(ctx.get(), bytes(out), &len, bytes(ct), static_cast<int>(ct.size())) != 1)
        return failed("decrypt");
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, k_aead_tag_size, tag.data()) != 1)
        return failed("tag");
    int tail = 0;
    unsigned char sink[16];
    if (EVP_DecryptFinal_ex(ctx.get(), out.empty() ? sink : bytes(out) + out.size(), &tail) != 1) {
        // Never hand back unauthenticated plaintext.
        std::fill(out.begin(), out.end(), '\0');
        ossl::last_error(); // clear the queue; the tag mismatch is the whole story
        return make_error("crypto.auth_failed",
                          "sealed data fails authentication (wrong key, or altered data)");
    }
    return out;
}

void wipe(std::string& s) {
    OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

struct AeadOpener::State {
    ossl::CipherCtxPtr ctx;
};

Result<AeadOpener> AeadOpener::make(std::string_view key) {
    if (auto ok = check_sizes(key, 0, 0); !ok)
        return ok.error();
    auto state = std::make_shared<State>();
    state->ctx.reset(EVP_CIPHER_CTX_new());
    auto* ctx = state->ctx.get();
    if (!ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, k_aead_nonce_size, nullptr) != 1 ||
        EVP_DecryptInit_ex(ctx, nullptr, nullptr, bytes(key), nullptr) != 1)
        return failed("init");
    return AeadOpener(std::move(state));
}

Result<void> AeadOpener::open(std::string_view sealed, std::string_view aad, std::string& out) {
    out.clear();
    if (auto ok = check_lengths(sealed.size(), aad.size()); !ok)
        return ok.error();
    if (sealed.size() < k_aead_overhead)
        return make_error("crypto.truncated",
                          "sealed data is " + std::to_string(sealed.size()) +
                              " bytes, shorter than the 28 bytes of nonce and tag");
    auto* ctx = m_state->ctx.get();
    std::string_view nonce = sealed.substr(0, k_aead_nonce_size);
    std::string_view ct = sealed.substr(k_aead_nonce_size, sealed.size() - k_aead_overhead);
    unsigned char tag[k_aead_tag_size];
    std::copy_n(bytes(sealed) + sealed.size() - k_aead_tag_size, k_aead_tag_size, tag);
    out.resize(ct.size());
    // The key stays from make(): only the nonce is new.
    if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, bytes(nonce)) != 1)
        return failed("init");
    int len = 0;
    if (!aad.empty() &&
        EVP_DecryptUpdate(ctx, nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1)
        return failed("aad");
    if (!ct.empty() &&
        EVP_DecryptUpdate(ctx, bytes(out), &len, bytes(ct), static_cast<int>(ct.size())) != 1)
        return failed("decrypt");
    // The tag as a parameter: EVP_CIPHER_CTX_ctrl would build this array on every call (opening
    // a vault checks 200 000 tags; measured, this saves about a twentieth of each check).
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, k_aead_tag_size),
        OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_set_params(ctx, params) != 1)
        return failed("tag");
    int tail = 0;
    unsigned char sink[16];
    if (EVP_DecryptFinal_ex(ctx, out.empty() ? sink : bytes(out) + out.size(), &tail) != 1) {
        wipe(out);
        ossl::last_error(); // clear the queue; the tag mismatch is the whole story
        return make_error("crypto.auth_failed",
                          "sealed data fails authentication (wrong key, or altered data)");
    }
    return {};
}

} // namespace vaultfwd::crypto
