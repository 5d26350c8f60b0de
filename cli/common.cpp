// SPDX-License-Identifier: Apache-2.0
#include "cli/common.hpp"

#include <cstdlib>
#include <iostream>

#include "core/profile/check.hpp"
#include "core/server/api_server.hpp"
#include "core/upstream/url.hpp"

namespace vaultfwd::cli {

Globals& globals() {
    static Globals g;
    return g;
}

void fail(const std::string& message, int code) { throw Failure(message, code); }

std::filesystem::path home_dir() {
    if (!globals().home.empty())
        return globals().home;
    if (const char* h = std::getenv("VAULTFWD_HOME"); h && *h)
        return h;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
        return std::filesystem::path(x) / "vaultfwd";
    if (const char* h = std::getenv("HOME"); h && *h)
        return std::filesystem::path(h) / ".config" / "vaultfwd";
    fail("cannot find a home folder: pass --home DIR or set VAULTFWD_HOME");
}

void set_examples(CLI::App* app, const std::string& examples) {
    app->footer("Examples:\n" + examples);
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

CLI::Validator port_number() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            // Checked as text, so "99999" or "4294967297" cannot wrap into some other port.
            const std::string range = "a port is 0 to 65535 (0 picks a free one)";
            // "-1" is a number, only out of range.
            const std::string digits = value.rfind('-', 0) == 0 ? value.substr(1) : value;
            if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
                return "port \"" + value + "\" is not a number: " + range;
            if (digits != value || value.size() > 5 || std::stoi(value) > 65535)
                return "port " + value + " is out of range: " + range;
            return {};
        },
        "PORT");
}

namespace {

// A check whose message is the parser's own error, the same the profile's values get.
template <class Parse> CLI::Validator parsed_by(Parse parse, const std::string& type) {
    return CLI::Validator(
        [parse](std::string& value) -> std::string {
            auto parsed = parse(value);
            return parsed ? std::string() : parsed.error().message;
        },
        type);
}

} // namespace

CLI::Validator listen_address() {
    // The profile's check too, so --api-listen 300.1.1.1:80 is refused as listen.api is.
    return parsed_by(
        [](const std::string& v) -> Result<void> {
            if (auto parsed = server::parse_listen(v); !parsed)
                return parsed.error();
            return profile::check_listen(v);
        },
        "HOST:PORT");
}

CLI::Validator listen_host() {
    return parsed_by([](const std::string& v) { return profile::check_listen_host(v); }, "HOST");
}

CLI::Validator http_url() {
    return parsed_by([](const std::string& v) { return upstream::parse_url(v); }, "URL");
}

} // namespace vaultfwd::cli
