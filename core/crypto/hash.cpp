// SPDX-License-Identifier: Apache-2.0
#include "core/crypto/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <array>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "core/util/strings.hpp"

namespace vaultfwd::crypto {

namespace {

// Each digest is fetched from OpenSSL's provider once: OpenSSL 3 fetches anew (a lock and a
// lookup by name) every time it is handed the legacy EVP_sha256() and friends, which made the
// API key's digest cost as much as the rest of authentication.
const EVP_MD* fetched(const char* name, const EVP_MD* legacy) {
    EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
    return md ? md : legacy;
}

const EVP_MD* md_for(Digest alg) {
    // In the order of Digest's values.
    static const std::array<const EVP_MD*, 5> mds = {fetched("MD5", EVP_md5()), fetched("SHA1", EVP_sha1()),
                                                     fetched("SHA256", EVP_sha256()), fetched("SHA384", EVP_sha384()),
                                                     fetched("SHA512", EVP_sha512())};
    static_assert(static_cast<int>(Digest::md5) == 0 && static_cast<int>(Digest::sha512) == 4);
    return mds.at(static_cast<std::size_t>(alg));
}

} // namespace

std::optional<Digest> digest_from_name(std::string_view name) {
    auto n = util::to_lower(name);
    if (n == "md5")
        return Digest::md5;
    if (n == "sha1")
        return Digest::sha1;
    if (n == "sha256")
        return Digest::sha256;
    if (n == "sha384")
        return Digest::sha384;
    if (n == "sha512")
        return Digest::sha512;
    return std::nullopt;
}

std::string digest(Digest alg, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    // One context per thread, reused: EVP_Digest() allocates and frees one per call.
    thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex2(ctx.get(), md_for(alg), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), out, &len) != 1)
        throw std::runtime_error("digest failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string hmac(Digest alg, std::string_view key, std::string_view data) {
    // The HMAC algorithm is fetched once and each thread keeps one context (HMAC() fetches both
    // and a digest on every call in OpenSSL 3).
    static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    thread_local std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(mac ? EVP_MAC_CTX_new(mac) : nullptr,
                                                                               &EVP_MAC_CTX_free);
    static const unsigned char empty = 0;
    const auto* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
    char digest_name[16];
    std::snprintf(digest_name, sizeof digest_name, "%s", EVP_MD_get0_name(md_for(alg)));
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0), OSSL_PARAM_construct_end()};
    unsigned char out[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    if (!ctx || EVP_MAC_init(ctx.get(), k, key.size(), params) != 1 ||
        EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
        EVP_MAC_final(ctx.get(), out, &len, sizeof out) != 1)
        throw std::runtime_error("hmac failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace vaultfwd::crypto
