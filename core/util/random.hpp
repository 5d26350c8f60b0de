// SPDX-License-Identifier: Apache-2.0
#pragma once
// Cryptographically strong randomness (OpenSSL's DRBG); aborts rather than return weak bytes.

#include <string>

namespace vaultfwd::util {

std::string random_bytes(std::size_t n);
// n random bytes as 2n lowercase hex characters.
std::string random_hex(std::size_t n);
// n characters drawn uniformly from `alphabet`.
std::string random_string(std::size_t n, std::string_view alphabet);

} // namespace vaultfwd::util
