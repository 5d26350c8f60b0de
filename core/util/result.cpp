// SPDX-License-Identifier: Apache-2.0
#include "core/util/result.hpp"

namespace vaultfwd {

std::string Error::describe(const std::string& where) const {
    std::string out;
    if (!where.empty()) {
        out += where;
        if (line > 0) {
            out += ":" + std::to_string(line);
            if (column > 0)
                out += ":" + std::to_string(column);
        }
        out += ": ";
    } else if (line > 0) {
        out += "line " + std::to_string(line);
        if (column > 0)
            out += ", column " + std::to_string(column);
        out += ": ";
    }
    out += message;
    return out;
}

} // namespace vaultfwd
