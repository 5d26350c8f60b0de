// SPDX-License-Identifier: Apache-2.0
#pragma once
// curl as a user runs it, for the tests of serve's ports: status, the answer to CONNECT, body and
// headers as curl saw them.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vaultfwd::test {

struct CurlResult {
    int exit_code = -1;
    int status = 0;         // %{http_code}
    int connect_status = 0; // %{http_connect}: the port's answer to CONNECT
    std::string body;
    std::string headers;
    std::string err;
    nlohmann::json body_json() const { return nlohmann::json::parse(body, nullptr, false); }
    // The last value of a response header (case-insensitive name).
    std::string header(const std::string& name) const;
};

// Runs curl with `args` (after -sS, a 20 s limit and the output options); no proxy settings
// from the environment leak in.
CurlResult curl(const std::vector<std::string>& args);

} // namespace vaultfwd::test
