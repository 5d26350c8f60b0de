// SPDX-License-Identifier: Apache-2.0
#pragma once
// What a request phase decides (Pingora's upstream_peer, h2o's proxy handler): an answer of its
// own (an error, a reflect, a health check), or the call to make upstream together with the
// response phase that turns the upstream's outcome into the client's answer (relay, ingress
// vaulting, redact). The engine makes the call: phases never touch a socket.

#include <functional>
#include <utility>
#include <variant>

#include "core/http/message.hpp"
#include "core/upstream/client.hpp"

namespace vaultfwd::server {

struct UpstreamStep {
    upstream::Call call;
    std::function<http::Response(upstream::Outcome)> on_response;
};

using Step = std::variant<http::Response, UpstreamStep>;

// The whole exchange without an engine (tests, tools): the call made with `client`, then the
// response phase.
inline http::Response complete(Step step, upstream::Client& client) {
    if (auto* up = std::get_if<UpstreamStep>(&step))
        return up->on_response(client.send(up->call));
    return std::get<http::Response>(std::move(step));
}

} // namespace vaultfwd::server
