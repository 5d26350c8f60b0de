// SPDX-License-Identifier: Apache-2.0
#include "support/httplib_bridge.hpp"

#include <httplib.h>

#include "core/util/strings.hpp"

namespace vaultfwd::test {

bool hidden_from_httplib(std::string_view name) {
    return util::iequals(name, "content-type") || util::iequals(name, "range") ||
           util::iequals(name, "accept-encoding") || util::starts_with_icase(name, k_hidden_prefix);
}

std::string_view unhide_header_name(std::string_view name) {
    if (util::starts_with_icase(name, k_hidden_prefix))
        name.remove_prefix(k_hidden_prefix.size());
    return name;
}

http::Request from_httplib(const httplib::Request& req) {
    http::Request r;
    r.method = req.method;
    r.path = req.path;
    auto q = req.target.find('?');
    if (q != std::string::npos)
        r.query = req.target.substr(q + 1);
    for (const auto& [k, v] : req.headers)
        if (k != "REMOTE_ADDR" && k != "REMOTE_PORT" && k != "LOCAL_ADDR" && k != "LOCAL_PORT")
            r.headers.push_back({std::string(unhide_header_name(k)), v});
    r.body = req.body;
    r.remote_addr = req.remote_addr;
    return r;
}

void hide_from_httplib(const httplib::Request& req) {
    // The request is httplib's own (non-const) object; the handler signature is const only.
    auto& r = const_cast<httplib::Request&>(req);
    httplib::Headers renamed;
    for (auto it = r.headers.begin(); it != r.headers.end();) {
        if (hidden_from_httplib(it->first)) {
            renamed.emplace(std::string(k_hidden_prefix) + it->first, it->second);
            it = r.headers.erase(it);
        } else {
            ++it;
        }
    }
    r.headers.insert(renamed.begin(), renamed.end());
    r.ranges.clear();
}

} // namespace vaultfwd::test
