// SPDX-License-Identifier: Apache-2.0
#include "core/crypto/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdexcept>

#include "core/util/strings.hpp"

namespace vaultfwd::crypto {

namespace {
const EVP_MD* md_for(Digest alg) {
    switch (alg) {
    case Digest::md5:
        return EVP_md5();
    case Digest::sha1:
        return EVP_sha1();
    case Digest::sha256:
        return EVP_sha256();
    case Digest::sha384:
        return EVP_sha384();
    case Digest::sha512:
        return EVP_sha512();
    }
    return EVP_sha256();
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
    if (EVP_Digest(data.data(), data.size(), out, &len, md_for(alg), nullptr) != 1)
        throw std::runtime_error("digest failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string hmac(Digest alg, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    static const unsigned char empty = 0;
    const void* k = key.empty() ? static_cast<const void*>(&empty) : key.data();
    if (!HMAC(md_for(alg), k, static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
        throw std::runtime_error("hmac failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace vaultfwd::crypto
