// SPDX-License-Identifier: Apache-2.0
#pragma once
// The I/O side of `vaultfwd replay`: the servers a replay needs, and the HTTP calls to them.
//
// By default the runner starts, in-process and on 127.0.0.1 with free ports:
// - an API server (the one `serve` runs) over a copy of the profile that also allows 127.0.0.1
//   (and the --via URL's host) upstream and trusts the profile's local CA; the profile file is
//   never changed. With `server_url` it uses a running `vaultfwd serve` instead.
// - for Via::ditto, a ditto echo server over HTTPS (JSON answers) with a certificate the
//   profile's local CA signs for 127.0.0.1; Footprint requests pin that CA with
//   x-fp-proxy-pin-cert. Gr4vy and VTEX requests cannot pin: the in-process server trusts the CA
//   (upstream.ca_files of its copy), and with a running serve they go to a plain-http listener
//   of the same ditto instead (the default profile allows plain http to loopback).
// Then each recording goes through plan() and normalize().

#include <memory>
#include <string>
#include <vector>

#include "core/profile/profile.hpp"
#include "core/replay/normalize.hpp"
#include "core/replay/plan.hpp"
#include "core/replay/recording.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::replay {

enum class ViaKind { reflect, ditto, url };

struct RunnerOptions {
    ViaKind via = ViaKind::reflect;
    std::string via_url;    // ViaKind::url: an echo server's http(s) origin
    std::string server_url; // a running serve's API origin; empty: start one in-process
    std::string api_key;    // empty: the profile's first API key
    int timeout_ms = 30000; // for each call to the API server
    std::vector<std::string> ignore_headers; // see NormalizeOptions
};

// True when an answer reports a failure: a status of 400 or more, vaultfwd's own error header,
// or Gr4vy's x-vault-forward-error (its failures come with status 200).
bool is_failure(const http::Response& response);

class Runner {
  public:
    // Starts what `options` need. Errors: "replay.bad_via" (not an http(s) URL),
    // "replay.no_api_key", "ca.missing" (Via::ditto without the local CA), "replay.unreachable"
    // (the server does not answer GET /healthz), and those of the vault and the listeners.
    static Result<std::unique_ptr<Runner>> start(const profile::Profile& profile,
                                                 const RunnerOptions& options);
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    struct Answer {
        http::Response response; // as the API server answered
        std::string text;        // normalize(response): the result compared with golden files
    };
    // Replays one recording. Errors: those of plan(), and "replay.transport" when the API
    // server gives no answer.
    Result<Answer> send(const Recording& rec);

    const std::string& server_url() const;
    const std::string& echo_url() const; // empty for reflect

    struct Impl;

  private:
    explicit Runner(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace vaultfwd::replay
