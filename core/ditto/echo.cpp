// SPDX-License-Identifier: Apache-2.0
#include "core/ditto/echo.hpp"

#include <algorithm>
#include <array>

#include "core/util/strings.hpp"

namespace vaultfwd::ditto {

bool is_connection_header(std::string_view name) {
    static constexpr std::array<std::string_view, 10> k_names = {
        "host", "content-length", "transfer-encoding", "connection",       "keep-alive",
        "te",   "trailer",        "upgrade",           "proxy-connection", "expect"};
    return std::any_of(k_names.begin(), k_names.end(),
                       [&](std::string_view n) { return util::iequals(n, name); });
}

HeaderList echoed_headers(const HeaderList& headers) {
    HeaderList out;
    for (const auto& [name, value] : headers) {
        if (is_connection_header(name) || util::iequals(name, k_serial_header))
            continue;
        out.emplace_back(util::to_lower(name), value);
    }
    return out;
}

std::pair<std::string, std::string> split_target(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos)
        return {std::string(target), ""};
    return {std::string(target.substr(0, q)), std::string(target.substr(q + 1))};
}

std::string echo_text(const EchoRequest& req) {
    std::string out;
    if (req.client_cert)
        out.append(k_serial_header)
            .append(": ")
            .append(req.client_cert->serial_decimal)
            .append("\n");
    for (const auto& [name, value] : echoed_headers(req.headers))
        out.append(name).append(": ").append(value).append("\n");
    out.append("\n");
    out.append(req.body);
    return out;
}

nlohmann::json echo_json(const EchoRequest& req) {
    using nlohmann::json;
    auto [path, query] = split_target(req.target);
    json headers = json::object();
    // Repeated names join in the order they came.
    for (const auto& [name, value] : echoed_headers(req.headers)) {
        if (headers.contains(name))
            headers[name] = headers[name].get<std::string>() + ", " + value;
        else
            headers[name] = value;
    }
    json out = {{"method", req.method}, {"path", path}, {"query", query}, {"headers", headers}};
    if (util::is_valid_utf8(req.body)) {
        out["body"] = req.body;
    } else {
        out["body"] = nullptr;
        out["body_base64"] = util::base64_encode(req.body);
    }
    if (req.client_cert)
        out["client_cert"] = {{"subject", req.client_cert->subject},
                              {"issuer", req.client_cert->issuer},
                              {"serial", req.client_cert->serial_decimal},
                              {"serial_hex", req.client_cert->serial_hex}};
    else
        out["client_cert"] = nullptr;
    return out;
}

EchoResponse echo(const EchoRequest& req, Format format) {
    EchoResponse res;
    if (req.client_cert)
        res.headers.emplace_back(std::string(k_serial_header), req.client_cert->serial_decimal);
    if (format == Format::json) {
        res.content_type = "application/json";
        res.body = echo_json(req).dump(2) + "\n";
    } else {
        res.content_type = "text/plain; charset=utf-8";
        res.body = echo_text(req);
    }
    return res;
}

} // namespace vaultfwd::ditto
