// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/services.hpp"

#include <nlohmann/json.hpp>

#include "core/util/fs.hpp"

namespace vaultfwd::dialect {

http::Response json_error(int status, const std::string& code, const std::string& message) {
    http::Response res;
    res.status = status;
    res.headers.push_back({"content-type", "application/json"});
    res.headers.push_back({k_error_header, code});
    res.body = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    return res;
}

upstream::Allowlist allowlist(const profile::Profile& profile) {
    return {profile.upstream.allow, profile.upstream.allow_http};
}

upstream::Call base_call(const profile::Profile& profile) {
    upstream::Call call;
    call.connect_timeout_ms = profile.upstream.connect_timeout_ms;
    call.timeout_ms = profile.upstream.timeout_ms;
    // The files resolved against the profile's home, per thread for the last profile seen: every
    // call needs them, and building filesystem paths was most of this function's cost.
    struct Resolved {
        std::string home;
        std::vector<std::string> files, paths;
    };
    thread_local Resolved last;
    if (last.home != profile.home.native() || last.files != profile.upstream.ca_files) {
        last.home = profile.home.native();
        last.files = profile.upstream.ca_files;
        last.paths.clear();
        for (const auto& f : profile.upstream.ca_files)
            last.paths.push_back(profile.resolve(f).string());
    }
    call.tls.extra_ca_files = last.paths;
    return call;
}

Result<std::pair<std::string, std::string>> client_identity(const profile::Profile& profile,
                                                            const std::string& cert_name) {
    const auto* entry = profile.find_cert(cert_name);
    if (!entry)
        return make_error("profile.bad_reference",
                          "no [[certs]] entry is named \"" + cert_name + "\"");
    auto cert = util::read_file(profile.resolve(entry->cert));
    if (!cert)
        return cert.error();
    auto key = util::read_file(profile.resolve(entry->key));
    if (!key)
        return key.error();
    return std::make_pair(std::move(*cert), std::move(*key));
}

Result<std::string> pin_pem(const profile::Profile& profile, const std::string& pin_name) {
    const auto* entry = profile.find_pin(pin_name);
    if (!entry)
        return make_error("profile.bad_reference", "no [[pins]] entry is named \"" + pin_name + "\"");
    return util::read_file(profile.resolve(entry->cert));
}

std::string host_port(const upstream::Url& url) {
    return url.host_for_url() + ":" + std::to_string(url.port);
}

} // namespace vaultfwd::dialect
