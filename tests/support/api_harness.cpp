// SPDX-License-Identifier: Apache-2.0
#include "support/api_harness.hpp"

#include <chrono>
#include <doctest/doctest.h>

#include "core/profile/init.hpp"
#include "core/util/strings.hpp"
#include "support/raw_upstream.hpp"

namespace vaultfwd::test {

ApiHarness::ApiHarness(const ApiHarnessOptions& options) {
    REQUIRE(profile::init_profile(home.path(), "default", profile::Overwrite::never).ok());
    write_text(home / "root.pem", options.root_pem.empty() ? pki.ca_pem() : options.root_pem);
    auto text = read_text(home / "default.toml");
    text = util::replace_all(text, "connect_timeout_ms = 5000", "connect_timeout_ms = 2000");
    text = util::replace_all(text, "timeout_ms = 15000", "timeout_ms = 3000\nca_files = [\"root.pem\"]");
    if (!options.allow_http)
        text = util::replace_all(text, "allow_http = [\"localhost\", \"127.0.0.1\", \"::1\"]", "allow_http = []");
    text += "\n[[api_keys]]\nid = \"kyc\"\nkey = \"" + std::string(k_kyc_key) + "\"\nreveal = [\"id.*\"]\n";
    text += options.extra_profile;
    write_text(home / "default.toml", text);
    auto loaded = profile::load(home.path(), "default");
    REQUIRE_MESSAGE(loaded.ok(), loaded.error().describe());
    profile = std::move(*loaded);
    if (!options.allow_http)
        REQUIRE(profile.upstream.allow_http.empty());
    key = profile.api_keys.front().key;
    store = std::move(*vault::Store::open(profile.vault_dir(), profile.vault_key()));
    REQUIRE(store->put(k_fp, {{"id.first_name", "Jane"}, {"id.last_name", "Doè"},
                              {"id.dob", "1988-12-30"}, {"id.ssn4", "1234"},
                              {"card.primary.name", "Jane Doè"},
                              {"custom.credit_card", "4242424242424242"},
                              {"custom.ach_account", "12-1212-1212"}}).ok());
    REQUIRE(store->put("pm_1", {{"card.number", "4111111111111111"}, {"card.exp_month", "02"},
                                {"card.exp_year", "2028"}}).ok());
    REQUIRE(store->put("pm_2", {{"card.number", "5555444433331111"}, {"card.exp_month", "11"},
                                {"card.exp_year", "2031"}}).ok());
    log = std::move(*server::AccessLog::open(profile.access_log_path()));
    api = std::make_unique<server::ApiServer>(profile, *store, client, *log);
    port = *api->bind("127.0.0.1", 0);
    thread = std::thread([this] { api->run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

ApiHarness::~ApiHarness() {
    api->stop();
    thread.join();
}

httplib::Result ApiHarness::post(const std::string& path, const std::string& body, httplib::Headers headers,
                                 bool auth, const std::string& content_type) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(20, 0);
    if (auth)
        cli.set_basic_auth(key.c_str(), "");
    return cli.Post(path.c_str(), headers, body, content_type.c_str());
}

std::string ApiHarness::post_raw(const std::string& path, const std::string& body,
                                 const http::Headers& headers, bool auth) {
    std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
    if (auth)
        request += "Authorization: Basic " + util::base64_encode(key + ":") + "\r\n";
    for (const auto& h : headers)
        request += h.name + ": " + h.value + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    return raw_exchange(port, request, 20000);
}

} // namespace vaultfwd::test
