// SPDX-License-Identifier: Apache-2.0
#include "core/util/random.hpp"

#include <cstdlib>
#include <openssl/rand.h>

#include "core/util/strings.hpp"

namespace vaultfwd::util {

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        std::abort(); // no entropy: refusing to continue is the only safe answer
    return out;
}

std::string random_hex(std::size_t n) { return to_hex(random_bytes(n)); }

std::string random_string(std::size_t n, std::string_view alphabet) {
    std::string out;
    out.reserve(n);
    // Rejection sampling keeps the draw uniform for any alphabet size.
    const unsigned limit = 256 - (256 % alphabet.size());
    while (out.size() < n) {
        for (unsigned char c : random_bytes(n)) {
            if (c < limit && out.size() < n)
                out.push_back(alphabet[c % alphabet.size()]);
        }
    }
    return out;
}

} // namespace vaultfwd::util
