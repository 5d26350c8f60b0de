// SPDX-License-Identifier: Apache-2.0
#pragma once
// `serve`'s API listener in-process for integration tests: a fresh profile in a temp folder
// (short upstream timeouts, the test root trusted, an extra "kyc" key that may reveal id.*), a
// vault with one Footprint user and two Gr4vy payment methods, and the listener on port 0.

#include <memory>
#include <string>
#include <thread>

#include <httplib.h>

#include "core/profile/profile.hpp"
#include "core/server/access_log.hpp"
#include "core/server/api_server.hpp"
#include "core/upstream/client.hpp"
#include "core/vault/store.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

namespace vaultfwd::test {

inline constexpr const char* k_fp = "fp_id_test_jane";           // the Footprint user in the vault
inline constexpr const char* k_kyc_key = "sk_test_kyc0000000000"; // may reveal id.* only

struct ApiHarnessOptions {
    std::string extra_profile; // TOML appended to the profile
    std::string root_pem;      // the root trusted for upstreams (default: the harness's test root)
    bool allow_http = true;    // false: plain http allowed to no host
};

struct ApiHarness {
    TempDir home;
    TestPki pki = make_pki();
    profile::Profile profile;
    std::unique_ptr<vault::Store> store;
    std::unique_ptr<server::AccessLog> log;
    upstream::Client client;
    std::unique_ptr<server::ApiServer> api;
    std::thread thread;
    int port = 0;
    std::string key; // the profile's first API key (reveals everything)

    explicit ApiHarness(const ApiHarnessOptions& options = {});
    ~ApiHarness();
    ApiHarness(const ApiHarness&) = delete;
    ApiHarness& operator=(const ApiHarness&) = delete;

    // POST with the first key as Basic user (unless !auth).
    httplib::Result post(const std::string& path, const std::string& body, httplib::Headers headers,
                         bool auth = true, const std::string& content_type = "text/plain");
    // POST over a raw socket (headers in order, then Content-Length and Connection: close):
    // the answer as it came off the wire, for byte-for-byte checks httplib's client would spoil
    // (it percent-decodes and sorts answer headers).
    std::string post_raw(const std::string& path, const std::string& body, const http::Headers& headers,
                         bool auth = true);
};

} // namespace vaultfwd::test
