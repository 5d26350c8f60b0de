// SPDX-License-Identifier: Apache-2.0
#include "core/util/ossl.hpp"

#include <openssl/err.h>

namespace vaultfwd::ossl {

std::string last_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0)
        return "unknown error";
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    return buf;
}

} // namespace vaultfwd::ossl
