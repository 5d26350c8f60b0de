// SPDX-License-Identifier: Apache-2.0
#pragma once
// One hexadecimal digit's value, for the parsers that read hex by hand (chunk sizes, JSONPath
// escapes, from_hex, percent-decoding).

namespace vaultfwd::util {

// 0-15 for 0-9, a-f, A-F; -1 for anything else.
inline int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

} // namespace vaultfwd::util
