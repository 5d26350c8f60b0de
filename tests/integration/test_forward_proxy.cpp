// SPDX-License-Identifier: Apache-2.0
// The VGS-style forward proxy driven as a user drives it: the real curl binary through the
// proxy to in-process HTTPS upstreams, with the proxy started in-process on port 0.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <latch>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/crypto/hash.hpp"
#include "core/dialect/vgs/import.hpp"
#include "core/profile/profile.hpp"
#include "core/server/access_log.hpp"
#include "core/server/forward_proxy.hpp"
#include "core/tls/cert.hpp"
#include "core/tls/store.hpp"
#include "core/upstream/client.hpp"
#include "core/util/strings.hpp"
#include "core/vault/store.hpp"
#include "support/http_transcript.hpp"
#include "support/raw_upstream.hpp"
#include "support/curl.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::curl;
using test::CurlResult;

const std::string k_vault_key_hex(64, 'b');

const std::string k_echo_route =
    test::reveal_redact_route("echo", R"(127\.0\.0\.1|localhost)", "$.account_number", "$.card.number");

struct Options {
    bool proxy_tls = false;
    int timeout_ms = 5000;
    std::string routes = k_echo_route;
    std::size_t max_body_bytes = 65536;
};

// A home folder with a profile (two proxy credentials, one tied to an mTLS certificate), the
// local CA, a vault and an access log; start() runs the proxy on a thread.
class Proxy {
  public:
    Proxy(const test::TestPki& pki, Options o = {}) : m_options(std::move(o)) {
        test::write_text(home / "upstream-ca.pem", pki.ca_pem());
        test::write_text(home / "client.pem", pki.client_cert_pem());
        test::write_text(home / "client.key", pki.client_key_pem());
        std::string text =
            "[listen]\nproxy = \"127.0.0.1:0\"\nproxy_tls = " +
            std::string(m_options.proxy_tls ? "true" : "false") +
            "\n\n[vault]\nkey = \"" + k_vault_key_hex +
            "\"\n\n[ca]\ncert = \"default/ca.pem\"\nkey = \"default/ca.key\"\n\n"
            "[upstream]\nallow = [\"127.0.0.1\", \"localhost\"]\nallow_http = [\"127.0.0.1\"]\n"
            "ca_files = [\"" + (home / "upstream-ca.pem").string() + "\"]\n"
            "connect_timeout_ms = 2000\ntimeout_ms = " + std::to_string(m_options.timeout_ms) +
            "\n\n[limits]\nmax_body_bytes = " + std::to_string(m_options.max_body_bytes) +
            "\nmax_header_bytes = 4096\nthreads = 4\n\n"
            "[[proxy_credentials]]\nid = \"default\"\nusername = \"USER\"\npassword = \"PASS\"\n\n"
            "[[proxy_credentials]]\nid = \"acquirer\"\nusername = \"MUSER\"\npassword = \"MPASS\"\n"
            "client_cert = \"acquirer-mtls\"\n\n"
            "[[certs]]\nname = \"acquirer-mtls\"\ndirection = \"outbound\"\ncredential = \"acquirer\"\n"
            "cert = \"" + (home / "client.pem").string() + "\"\nkey = \"" +
            (home / "client.key").string() + "\"\n" + m_options.routes;
        test::write_text(profile::profile_path(home.path(), "default"), text);
        auto p = profile::load(home.path(), "default");
        REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
        REQUIRE(tls::init_ca(*p, tls::CaOverwrite::never).ok());
        ca_file = p->resolve(p->ca.cert).string();
        auto s = vault::Store::open(p->vault_dir(), p->vault_key());
        REQUIRE(s.ok());
        store = std::move(*s);
        auto l = server::AccessLog::open(p->access_log_path());
        REQUIRE(l.ok());
        log = std::move(*l);
    }

    ~Proxy() {
        if (m_proxy) {
            m_proxy->stop();
            m_thread.join();
        }
    }

    void start() {
        auto p = profile::load(home.path(), "default");
        REQUIRE(p.ok());
        m_profile = std::make_unique<profile::Profile>(std::move(*p));
        m_proxy = std::make_unique<server::ForwardProxy>(*m_profile, *store, m_client, *log);
        auto bound = m_proxy->bind("127.0.0.1", 0);
        REQUIRE_MESSAGE(bound.ok(), (bound.ok() ? "" : bound.error().message));
        port = *bound;
        m_thread = std::thread([this] { m_proxy->run(); });
    }

    std::string url(const std::string& user = "USER", const std::string& pass = "PASS") const {
        std::string scheme = m_options.proxy_tls ? "https://" : "http://";
        std::string auth = user.empty() ? "" : user + ":" + pass + "@";
        return scheme + auth + "127.0.0.1:" + std::to_string(port);
    }

    std::vector<json> access_log() const {
        std::vector<json> out;
        for (const auto& line : util::split(test::read_text(m_profile->access_log_path()), '\n'))
            if (!line.empty())
                out.push_back(json::parse(line));
        return out;
    }
    std::string access_log_text() const { return test::read_text(m_profile->access_log_path()); }

    test::TempDir home;
    std::string ca_file;
    std::unique_ptr<vault::Store> store;
    std::unique_ptr<server::AccessLog> log;
    int port = 0;

  private:
    Options m_options;
    std::unique_ptr<profile::Profile> m_profile;
    upstream::Client m_client;
    std::unique_ptr<server::ForwardProxy> m_proxy;
    std::thread m_thread;
};

std::string post_json(const std::string& alias) { return R"({"account_number": ")" + alias + R"("})"; }

// The upstream most tests talk to: echoes what it received and adds a card number, which the
// echo route's response filter redacts.
http::Response echo_with_card(const http::Request& r) {
    http::Response res;
    res.headers.push_back({"Content-Type", "application/json"});
    json received = json::parse(r.body, nullptr, false);
    res.body = json{{"received", received.is_discarded() ? json(r.body) : received},
                    {"card", {{"number", "5555555555554444"}}}}
                   .dump();
    return res;
}

int connect_loopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

void send_text(int fd, const std::string& s) {
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

// Reads until the end of a response head (or EOF).
std::string read_head(int fd) {
    std::string buf;
    char c;
    while (buf.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1)
        buf += c;
    return buf;
}

std::string read_all(int fd) {
    std::string buf;
    char tmp[4096];
    ssize_t n;
    while ((n = ::recv(fd, tmp, sizeof tmp, 0)) > 0)
        buf.append(tmp, static_cast<std::size_t>(n));
    return buf;
}

struct TunnelProbe {
    bool handshake_ok = false;
    std::string error;
    tls::CertInfo leaf;
    std::string response;
};

// A hand-made client: CONNECT, then a verifying TLS handshake (SNI and name check for `host`),
// then waits at `both_open` so that the two tunnels are open at the same time, then one GET.
TunnelProbe open_tunnel(int proxy_port, const std::string& host, int port, const std::string& ca_file,
                        std::latch& both_open) {
    TunnelProbe probe;
    int fd = connect_loopback(proxy_port);
    std::string target = host + ":" + std::to_string(port);
    send_text(fd, "CONNECT " + target + " HTTP/1.1\r\nHost: " + target +
                      "\r\nProxy-Authorization: Basic " + util::base64_encode("USER:PASS") + "\r\n\r\n");
    std::string head = read_head(fd);
    if (head.rfind("HTTP/1.1 200", 0) != 0) {
        probe.error = "CONNECT answered: " + head;
        both_open.count_down();
        ::close(fd);
        return probe;
    }
    ossl::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    ossl::SslPtr ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd);
    unsigned char ip[16];
    if (inet_pton(AF_INET, host.c_str(), ip) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl.get(), host.c_str());
        SSL_set1_host(ssl.get(), host.c_str());
    }
    probe.handshake_ok = SSL_connect(ssl.get()) == 1;
    if (probe.handshake_ok) {
        ossl::X509Ptr peer(SSL_get1_peer_certificate(ssl.get()));
        probe.leaf = tls::inspect(peer.get());
    } else {
        probe.error = "handshake failed: " + ossl::last_error();
    }
    both_open.count_down();
    both_open.wait();
    if (probe.handshake_ok) {
        std::string req = "GET /get?host=" + host + " HTTP/1.1\r\nHost: " + target +
                          "\r\nConnection: close\r\n\r\n";
        SSL_write(ssl.get(), req.data(), static_cast<int>(req.size()));
        char buf[4096];
        int n;
        while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0)
            probe.response.append(buf, static_cast<std::size_t>(n));
    }
    ssl.reset();
    ::close(fd);
    return probe;
}

} // namespace

TEST_SUITE("forward_proxy") {
    TEST_CASE("CONNECT with curl: aliases revealed upstream, response values redacted into aliases") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {}, echo_with_card);
        Proxy proxy(pki);
        proxy.start();
        auto alias = proxy.store->alias("4111111111111111", vault::AliasFormat::uuid);
        REQUIRE(alias.ok());

        auto r = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/post"), "-H",
                       "Content-Type: application/json", "-d", post_json(*alias)});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(r.status == 200);
        CHECK(r.connect_status == 200);

        // The upstream saw the value, in the client's exact bytes, and no proxy credentials.
        REQUIRE(up.request_count() == 1);
        auto seen = up.requests().back();
        CHECK(seen.body == R"({"account_number": "4111111111111111"})");
        CHECK(seen.path == "/post");
        CHECK_FALSE(http::find(seen.headers, "proxy-authorization"));

        // The client got an alias for the card number the upstream answered with.
        auto body = r.body_json();
        REQUIRE(body.is_object());
        CHECK(body["received"]["account_number"] == "4111111111111111");
        std::string card_alias = body["card"]["number"];
        CHECK(card_alias != "5555555555554444");
        CHECK(card_alias.substr(0, 6) == "555555");
        CHECK(card_alias.substr(12) == "4444");
        CHECK(proxy.store->reveal(card_alias) == "5555555555554444");

        // One access-log line for the request, with no value in it.
        auto lines = proxy.access_log();
        REQUIRE(lines.size() == 1);
        CHECK(lines[0]["dialect"] == "vgs");
        CHECK(lines[0]["method"] == "POST");
        CHECK(lines[0]["status"] == 200);
        CHECK(lines[0]["principal"] == "default");
        CHECK(lines[0]["tokens"] == 2);
        CHECK(lines[0]["upstream_host"] == "127.0.0.1:" + std::to_string(up.port()));
        CHECK(proxy.access_log_text().find("4111111111111111") == std::string::npos);
        CHECK(proxy.access_log_text().find("5555555555554444") == std::string::npos);

        // Keep-alive inside the tunnel: two URLs, one CONNECT (curl reuses the connection).
        test::TempDir out;
        auto two = test::run_program(
            {"curl", "-q", "-sS", "-x", proxy.url(), "--cacert", proxy.ca_file, "-w",
             "%{num_connects}\\n", "-o", (out / "a").string(), up.url("/get?n=1"), "-o",
             (out / "b").string(), up.url("/get?n=2")},
            "", {{"no_proxy", ""}, {"NO_PROXY", ""}});
        CHECK(two.exit_code == 0);
        CHECK(two.out == "1\n0\n");
        CHECK(up.request_count() == 3);

        // Absolute-form https:// (what a load generator without CONNECT sends): the proxy
        // makes the TLS call itself.
        int fd = connect_loopback(proxy.port);
        std::string body_text = post_json(*alias);
        send_text(fd, "POST " + up.url("/post") + " HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Authorization: Basic " +
                          util::base64_encode("USER:PASS") +
                          "\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body_text.size()) + "\r\nConnection: close\r\n\r\n" + body_text);
        CHECK(read_all(fd).rfind("HTTP/1.1 200", 0) == 0);
        ::close(fd);
        CHECK(up.requests().back().body == R"({"account_number": "4111111111111111"})");
    }

    TEST_CASE("uploads and forms of any size pass as sent; Range and Accept-Encoding reach the upstream") {
        // httplib's server would drop a multipart body (parsed into parts), refuse a form over
        // 8 KiB, slice the answer for a Range header and gzip it for Accept-Encoding.
        auto pki = test::make_pki();
        test::TempDir dir;
        const std::string file_text = std::string(30000, 'f') + "\nend\n";
        test::write_text(dir / "upload.txt", file_text);
        test::UpstreamServer up(pki);
        const std::string ip_url = up.url("/upload"); // 127.0.0.1: no route
        // Uploads go to a host no route matches (they pass untouched); forms to one whose route
        // reveals a form field.
        Options options;
        options.routes = "\n[[routes]]\nid = \"form\"\nhost = 'localhost'\n\n[[routes.filters]]\n"
                         "phase = \"request\"\noperation = \"reveal\"\ntransformer = \"form_field\"\n"
                         "targets = [\"card\"]\n";
        Proxy proxy(pki, options);
        proxy.start();
        auto alias = proxy.store->alias("4111111111111111", vault::AliasFormat::uuid);
        REQUIRE(alias.ok());

        auto upload = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, ip_url, "-F",
                            "note=hello", "-F", "file=@" + (dir / "upload.txt").string(), "-H",
                            "Range: bytes=0-3", "-H", "Accept-Encoding: gzip"});
        INFO(upload.err);
        REQUIRE(upload.exit_code == 0);
        CHECK_MESSAGE(upload.status == 200, upload.body);
        REQUIRE(up.request_count() == 1);
        auto seen = up.requests().back();
        CHECK(http::find(seen.headers, "content-type").value_or("").rfind("multipart/form-data; boundary=", 0) == 0);
        CHECK(seen.body.find("name=\"note\"\r\n\r\nhello\r\n") != std::string::npos);
        CHECK(seen.body.find(file_text) != std::string::npos);
        CHECK(http::find(seen.headers, "range") == "bytes=0-3");
        CHECK(http::find(seen.headers, "accept-encoding") == "gzip");
        // The upstream's answer (its echo of the body) comes back whole and as it was encoded.
        CHECK(upload.body == seen.body);

        const std::string pad = "pad=" + std::string(20000, 'x');
        auto localhost = "https://localhost:" + std::to_string(up.port()) + "/form";
        auto big_form = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, localhost, "--data",
                              pad + "&card=" + *alias + "&n=1"});
        REQUIRE(big_form.exit_code == 0);
        CHECK(big_form.status == 200);
        REQUIRE(up.request_count() == 2);
        CHECK(up.requests().back().body == pad + "&card=4111111111111111&n=1");

        // HEAD: no body, but the length a GET would get, as the upstream said it.
        test::UpstreamServer sized(pki, {}, [](const http::Request&) {
            http::Response r;
            r.headers = {{"Content-Type", "text/plain"}};
            r.body = "0123456789";
            return r;
        });
        auto head = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, "-I", sized.url("/sized")});
        REQUIRE(head.exit_code == 0);
        CHECK(head.status == 200);
        CHECK(head.header("content-length") == "10");
    }

    TEST_CASE("missing or wrong credentials give 407 and reach nothing") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {}, echo_with_card);
        test::UpstreamServer plain(pki, {.tls = false});
        Proxy proxy(pki);
        proxy.start();

        auto none = curl({"-x", proxy.url(""), "--cacert", proxy.ca_file, up.url("/post"), "-d", "{}"});
        CHECK(none.exit_code != 0);
        CHECK(none.connect_status == 407);
        auto wrong = curl({"-x", proxy.url("USER", "nope"), "--cacert", proxy.ca_file, up.url("/post")});
        CHECK(wrong.connect_status == 407);

        // Absolute-form http:// requests carry the credentials on every request.
        auto http_none = curl({"-x", proxy.url(""), plain.url("/x")});
        CHECK(http_none.status == 407);
        CHECK(http_none.header("Proxy-Authenticate") == "Basic realm=\"vaultfwd\"");
        CHECK(http_none.header("x-vaultfwd-error") == "auth.bad_proxy_credentials");
        CHECK(http_none.body_json()["error"]["code"] == "auth.bad_proxy_credentials");
        auto http_wrong = curl({"-x", proxy.url("MUSER", "PASS"), plain.url("/x")});
        CHECK(http_wrong.status == 407);
        CHECK(up.request_count() == 0);
        CHECK(plain.request_count() == 0);

        auto ok = curl({"-x", proxy.url(), plain.url("/x?y=1"), "-H", "Content-Type: application/json", "-d", "[1, 2]"});
        CHECK(ok.status == 200);
        REQUIRE(plain.request_count() == 1);
        CHECK(plain.requests()[0].query == "y=1");
        CHECK(plain.requests()[0].body == "[1, 2]");
        CHECK_FALSE(http::find(plain.requests()[0].headers, "proxy-authorization"));
        // A compressed request body a route's filters must read is passed on decoded.
        test::TempDir dir;
        REQUIRE(test::run_program({"sh", "-c", "printf '[3]' | gzip > " + (dir / "b.gz").string()}).exit_code == 0);
        auto gz = curl({"-x", proxy.url(), plain.url("/gz"), "-H", "Content-Type: application/json",
                        "-H", "Content-Encoding: gzip", "--data-binary", "@" + (dir / "b.gz").string()});
        CHECK(gz.status == 200);
        CHECK(plain.requests().back().body == "[3]");
        CHECK_FALSE(http::find(plain.requests().back().headers, "content-encoding"));

        auto lines = proxy.access_log();
        REQUIRE(lines.size() == 6);
        CHECK(lines[0]["method"] == "CONNECT");
        CHECK(lines[0]["status"] == 407);
        CHECK(lines[4]["principal"] == "default");
    }

    TEST_CASE("the credential's mTLS certificate is presented; without one the upstream refuses") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {.require_client_cert = true}, echo_with_card);
        Proxy proxy(pki);
        proxy.start();

        auto with_cert = curl({"-x", proxy.url("MUSER", "MPASS"), "--cacert", proxy.ca_file,
                               up.url("/post"), "-H", "Content-Type: application/json", "-d", "{}"});
        CHECK(with_cert.status == 200);
        CHECK(up.request_count() == 1);

        auto without = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/post"), "-d", "{}"});
        CHECK(without.status == 502);
        CHECK(without.header("x-vaultfwd-error") == "upstream.client_cert_rejected");
        auto err = without.body_json()["error"];
        CHECK(err["code"] == "upstream.client_cert_rejected");
        CHECK(err["message"].get<std::string>().find("client certificate") != std::string::npos);
        CHECK(up.request_count() == 1);
        auto lines = proxy.access_log();
        REQUIRE(lines.size() == 2);
        CHECK(lines[0]["principal"] == "acquirer");
        CHECK(lines[1]["error"] == "upstream.client_cert_rejected");
    }

    TEST_CASE("a VGS dashboard export with a JSONPath reveal filter, imported and used") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {}, echo_with_card);
        Proxy proxy(pki, {.routes = ""});
        auto fixture = (test::source_dir() / "fixtures/vgs/outbound-reveal.yaml").string();
        auto p = profile::load(proxy.home.path(), "default");
        REQUIRE(p.ok());
        auto report = dialect::vgs::import_routes(*p, test::read_text(fixture), dialect::vgs::DryRun::no);
        REQUIRE(report.ok());
        REQUIRE(report->routes.size() == 1);
        CHECK(report->skipped.empty());
        proxy.start();
        auto alias = *proxy.store->alias("DE89370400440532013000", vault::AliasFormat::uuid);

        auto r = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/post"), "-H",
                       "Content-Type: application/json", "-d", post_json(alias)});
        CHECK(r.status == 200);
        CHECK(up.requests().back().body == R"({"account_number": "DE89370400440532013000"})");
        // The export's conditions hold too: another path, or another content type, is not
        // filtered, so the alias goes through as it is.
        auto other = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/other"), "-H",
                           "Content-Type: application/json", "-d", post_json(alias)});
        CHECK(other.status == 200);
        CHECK(up.requests().back().body == post_json(alias));
        auto text = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/post"), "-H",
                          "Content-Type: text/plain", "-d", post_json(alias)});
        CHECK(up.requests().back().body == post_json(alias));
    }

    TEST_CASE("vaultfwd routes import and routes list") {
        test::TempDir home;
        REQUIRE(test::run_vaultfwd({"--home", home.path().string(), "init"}).exit_code == 0);
        auto fixture = (test::source_dir() / "fixtures/vgs/mixed-export.yaml").string();
        auto imported = test::run_vaultfwd({"--home", home.path().string(), "routes", "import", fixture});
        INFO(imported.err);
        CHECK(imported.exit_code == 0);
        CHECK(imported.out.find("imported route route-acquirer") != std::string::npos);
        CHECK(imported.out.find("not imported: route \"acquirer\" filter \"xml-filter\"") != std::string::npos);
        CHECK(imported.out.find("imported route route-inbound (inbound-collect)  inbound: Host (.*)\\.verygoodproxy\\.com -> "
                                "https://backend.example") != std::string::npos);
        CHECK(imported.out.find("2 route(s) imported") != std::string::npos);
        auto check = test::run_vaultfwd({"--home", home.path().string(), "config", "check"});
        CHECK(check.exit_code == 0);

        auto list = test::run_vaultfwd({"--home", home.path().string(), "--json", "routes", "list"});
        CHECK(list.exit_code == 0);
        auto j = json::parse(list.out, nullptr, false);
        REQUIRE(j.is_object());
        REQUIRE(j["routes"].size() == 2);
        CHECK(j["routes"][1]["direction"] == "inbound");
        CHECK(j["routes"][0]["host"] == "api\\.acquirer\\.example");
        CHECK(j["routes"][0]["filters"].size() == 5);

        auto again = test::run_vaultfwd({"--home", home.path().string(), "--json", "routes", "import", fixture});
        CHECK(again.exit_code == 0);
        auto aj = json::parse(again.out, nullptr, false);
        CHECK(aj["imported"].empty());
        CHECK(aj["already"] == json::array({"route-acquirer", "route-inbound"}));
        // In words: already in the profile, not "part(s) not imported" for the route itself.
        auto text_again =
            test::run_vaultfwd({"--home", home.path().string(), "routes", "import", fixture});
        CHECK(text_again.exit_code == 0);
        CHECK(text_again.out.find("route route-acquirer is already in the profile, unchanged") !=
              std::string::npos);
        CHECK(text_again.out.find("0 route(s) imported into") != std::string::npos);
        CHECK(text_again.out.find(", 2 already in the profile") != std::string::npos);
        CHECK(text_again.out.find("already has a route") == std::string::npos);
        auto bad = test::run_vaultfwd({"--home", home.path().string(), "routes", "import",
                                       (test::source_dir() / "fixtures/profile.example.toml").string()});
        CHECK(bad.exit_code == 1);
        CHECK(bad.err.find("vaultfwd: error:") != std::string::npos);
    }

    TEST_CASE("the proxy port itself over TLS, as https://user:pass@host:port") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {}, echo_with_card);
        test::UpstreamServer plain(pki, {.tls = false});
        Proxy proxy(pki, {.proxy_tls = true});
        proxy.start();
        auto alias = *proxy.store->alias("4111111111111111", vault::AliasFormat::uuid);
        auto r = curl({"-x", proxy.url(), "--proxy-cacert", proxy.ca_file, "--cacert", proxy.ca_file,
                       up.url("/post"), "-H", "Content-Type: application/json", "-d", post_json(alias)});
        INFO(r.err);
        CHECK(r.status == 200);
        CHECK(up.requests().back().body == R"({"account_number": "4111111111111111"})");
        auto http = curl({"-x", proxy.url(), "--proxy-cacert", proxy.ca_file, plain.url("/x")});
        CHECK(http.status == 200);
        CHECK(plain.request_count() == 1);
        auto ca = curl({"--cacert", proxy.ca_file, "https://127.0.0.1:" + std::to_string(proxy.port) + "/ca.pem"});
        CHECK(ca.status == 200);
        CHECK(ca.body == test::read_text(proxy.ca_file));
        // A client that does not speak TLS to it gets nowhere, and the proxy carries on.
        auto plain_client = curl({"-x", "http://USER:PASS@127.0.0.1:" + std::to_string(proxy.port), plain.url("/x")});
        CHECK(plain_client.status != 200);
        CHECK(curl({"-x", proxy.url(), "--proxy-cacert", proxy.ca_file, plain.url("/y")}).status == 200);
    }

    TEST_CASE("two tunnels open at once to different hosts get leaves minted for each name") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki);
        Proxy proxy(pki);
        proxy.start();
        std::latch both_open(2);
        TunnelProbe by_ip, by_name;
        std::thread a([&] { by_ip = open_tunnel(proxy.port, "127.0.0.1", up.port(), proxy.ca_file, both_open); });
        std::thread b([&] { by_name = open_tunnel(proxy.port, "localhost", up.port(), proxy.ca_file, both_open); });
        a.join();
        b.join();
        INFO(by_ip.error);
        INFO(by_name.error);
        REQUIRE(by_ip.handshake_ok);
        REQUIRE(by_name.handshake_ok);
        CHECK(by_ip.leaf.ip_addresses == std::vector<std::string>{"127.0.0.1"});
        CHECK(by_ip.leaf.dns_names.empty());
        CHECK(by_name.leaf.dns_names == std::vector<std::string>{"localhost"});
        CHECK(by_name.leaf.ip_addresses.empty());
        auto ca = tls::load_cert_pem(test::read_text(proxy.ca_file));
        REQUIRE(ca.ok());
        CHECK(by_ip.leaf.issuer == tls::inspect(ca->get()).subject);
        CHECK(by_name.leaf.issuer == tls::inspect(ca->get()).subject);
        CHECK(by_ip.response.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(by_name.response.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(up.request_count() == 2);
    }

    TEST_CASE("vaultfwd's own errors: JSON with a code and the marker header") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {}, echo_with_card);
        test::UpstreamServer slow(pki, {.delay_ms = 2500});
        Proxy proxy(pki, {.timeout_ms = 800});
        proxy.start();
        auto via = [&](std::vector<std::string> args) {
            std::vector<std::string> all = {"-x", proxy.url(), "--cacert", proxy.ca_file};
            all.insert(all.end(), args.begin(), args.end());
            return curl(all);
        };

        SUBCASE("the CA on GET /ca.pem, without credentials") {
            auto r = curl({"http://127.0.0.1:" + std::to_string(proxy.port) + "/ca.pem"});
            CHECK(r.status == 200);
            CHECK(r.body == test::read_text(proxy.ca_file));
            auto other = curl({"http://127.0.0.1:" + std::to_string(proxy.port) + "/other"});
            CHECK(other.status == 404);
            CHECK(other.header("x-vaultfwd-error") == "proxy.not_found");
        }
        SUBCASE("403 for a host outside the allowlist, by CONNECT or absolute-form") {
            auto tunnel = via({"https://api.not-allowed.example/x"});
            CHECK(tunnel.connect_status == 403);
            auto direct = via({"http://api.not-allowed.example/x"});
            CHECK(direct.status == 403);
            CHECK(direct.header("x-vaultfwd-error") == "upstream.http_not_allowed");
            CHECK(direct.body_json()["error"]["message"].get<std::string>().find("api.not-allowed.example") != std::string::npos);
        }
        SUBCASE("400 listing unknown aliases; nothing is sent") {
            auto r = via({up.url("/post"), "-H", "Content-Type: application/json", "-d",
                          post_json("tok_sandbox_NoSuchA1iasHere")});
            CHECK(r.status == 400);
            CHECK(r.header("x-vaultfwd-error") == "vgs.unknown_alias");
            CHECK(r.body_json()["error"]["code"] == "vgs.unknown_alias");
            CHECK(r.body_json()["error"]["message"].get<std::string>().find("tok_sandbox_NoSuchA1iasHere") != std::string::npos);
            CHECK(up.request_count() == 0);
        }
        SUBCASE("504 when the upstream is too slow, 502 when nothing listens") {
            auto r = via({slow.url("/post"), "-d", "{}"});
            CHECK(r.status == 504);
            CHECK(r.header("x-vaultfwd-error") == "upstream.timeout");
            int free_port = 0;
            {
                test::UpstreamServer gone(pki);
                free_port = gone.port();
            }
            auto refused = via({"https://127.0.0.1:" + std::to_string(free_port) + "/x"});
            CHECK(refused.status == 502);
            CHECK(refused.header("x-vaultfwd-error") == "upstream.connect_failed");
        }
        SUBCASE("413 for a body over the limit") {
            test::TempDir dir;
            test::write_text(dir / "big.json", "{\"x\":\"" + std::string(70000, 'a') + "\"}");
            auto r = via({up.url("/post"), "-H", "Content-Type: application/json", "--data-binary",
                          "@" + (dir / "big.json").string()});
            CHECK(r.status == 413);
            CHECK(r.header("x-vaultfwd-error") == "request.too_large");
            CHECK(up.request_count() == 0);
        }
        SUBCASE("an upstream's own error passes through untouched") {
            test::UpstreamServer teapot(pki, {}, [](const http::Request&) {
                http::Response res;
                res.status = 418;
                return res;
            });
            auto r = via({teapot.url("/x")});
            CHECK(r.status == 418);
            CHECK(r.header("x-vaultfwd-error").empty());
        }
    }

    TEST_CASE("the proxy keeps serving after garbage, oversized heads and abrupt disconnects") {
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {}, echo_with_card);
        int idle = -1;
        auto stopped_at = std::chrono::steady_clock::now();
        {
        Proxy proxy(pki);
        proxy.start();

        int fd = connect_loopback(proxy.port);
        send_text(fd, "this is not http\r\n\r\n");
        CHECK(read_all(fd).rfind("HTTP/1.1 400", 0) == 0);
        ::close(fd);

        fd = connect_loopback(proxy.port);
        send_text(fd, "GET http://127.0.0.1/ HTTP/1.1\r\nX-Big: " + std::string(8000, 'x') + "\r\n\r\n");
        std::string big = read_all(fd);
        CHECK(big.rfind("HTTP/1.1 431", 0) == 0);
        CHECK(big.find("request.header_too_large") != std::string::npos);
        ::close(fd);

        fd = connect_loopback(proxy.port);
        send_text(fd, "CONNECT 127.0.0.1:1 HTTP/1.1\r\n"); // and hang up mid-head
        ::close(fd);
        fd = connect_loopback(proxy.port);
        send_text(fd, "CONNECT 127.0.0.1:" + std::to_string(up.port()) +
                          " HTTP/1.1\r\nProxy-Authorization: Basic " + util::base64_encode("USER:PASS") +
                          "\r\n\r\n\x16\x03\x01\x00\x05hello"); // a broken ClientHello, then gone
        CHECK(read_head(fd).rfind("HTTP/1.1 200", 0) == 0);
        ::close(fd);
        fd = connect_loopback(proxy.port);
        send_text(fd, std::string("\x16\x03\x01\x02\x00", 5)); // TLS to the plain port
        CHECK(read_all(fd).empty());
        ::close(fd);
        fd = connect_loopback(proxy.port);
        send_text(fd, "CONNECT nohostport HTTP/1.1\r\n\r\n");
        CHECK(read_all(fd).rfind("HTTP/1.1 400", 0) == 0);
        ::close(fd);
        idle = connect_loopback(proxy.port); // left open: stopping must not wait for it

        auto alias = *proxy.store->alias("4111111111111111", vault::AliasFormat::uuid);
        auto r = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/post"), "-H",
                       "Content-Type: application/json", "-d", post_json(alias)});
        CHECK(r.status == 200);
        CHECK(up.requests().back().body == R"({"account_number": "4111111111111111"})");
        stopped_at = std::chrono::steady_clock::now();
        } // the proxy stops here, with `idle` still connected
        CHECK(std::chrono::steady_clock::now() - stopped_at < std::chrono::seconds(5));
        ::close(idle);
    }
    TEST_CASE("answer headers pass byte for byte and repeated; Connection-named headers go both ways") {
        auto pki = test::make_pki();
        // What the upstream got: the target as sent, the kept header, no hop-by-hop one.
        auto check_seen = [](const test::RawUpstream& up, const std::string& kept) {
            auto seen = up.requests();
            REQUIRE(seen.size() == 1);
            INFO(seen[0]);
            CHECK(seen[0].rfind("GET /next?p=%2F HTTP/1.1\r\n", 0) == 0);
            CHECK(seen[0].find("X-Kept: " + kept + "\r\n") != std::string::npos);
            CHECK(seen[0].find("secret") == std::string::npos);
            CHECK(util::to_lower(seen[0]).find("x-hop") == std::string::npos);
            CHECK(util::to_lower(seen[0]).find("keep-alive") == std::string::npos);
            CHECK(util::to_lower(seen[0]).find("proxy-authorization") == std::string::npos);
        };
        Proxy proxy(pki, {.routes = ""});
        proxy.start();
        {
            test::RawUpstream up({{test::k_fidelity_answer}});
            std::string target = "127.0.0.1:" + std::to_string(up.port());
            auto answer = test::raw_exchange(
                proxy.port, "GET http://" + target + "/next?p=%2F HTTP/1.1\r\nHost: " + target +
                                "\r\nProxy-Authorization: Basic " + util::base64_encode("USER:PASS") +
                                "\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: 5\r\nX-Kept: 1\r\n\r\n");
            test::check_fidelity(answer, "");
            check_seen(up, "1");
        }
        // Through a CONNECT tunnel with TLS inside, with curl: the same bytes.
        test::RawUpstream up({{test::k_fidelity_answer}}, &pki);
        auto r = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/next?p=%2F"), "-H",
                       "Connection: X-Hop", "-H", "X-Hop: secret", "-H", "Keep-Alive: 5", "-H", "X-Kept: a%2Fb"});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(r.connect_status == 200);
        // curl writes every head it received: the CONNECT's, then the upstream's as relayed.
        auto last = r.headers.rfind("HTTP/1.1 ");
        REQUIRE(last != std::string::npos);
        REQUIRE(last > 0);
        test::check_fidelity(r.headers.substr(last), "");
        check_seen(up, "a%2Fb");
    }

    TEST_CASE("answers no filter reads are streamed: past max_body_bytes, chunked kept, HTTP/1.0 until close, a break shows") {
        auto pki = test::make_pki();
        // 300 000 bytes: larger than the profile's limits.max_body_bytes (65 536), which bounds
        // only what is read whole.
        std::string body(300000, '\0');
        for (std::size_t i = 0; i < body.size(); ++i)
            body[i] = static_cast<char>('a' + i % 26);
        std::string chunked;
        for (std::size_t at = 0; at < body.size(); at += 7000) {
            std::string piece = body.substr(at, 7000);
            char size[16];
            std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
            chunked += size + piece + "\r\n";
        }
        chunked += "0\r\n\r\n";
        const std::string chunked_answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Order: 1\r\n"
                                           "Transfer-Encoding: chunked\r\nX-Order: 2\r\n\r\n" + chunked;
        test::RawUpstream up({{chunked_answer},
                              {chunked_answer},
                              {"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + body.substr(0, 100000), true},
                              {"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + body}});
        Proxy proxy(pki, {.routes = ""});
        proxy.start();
        const std::string target = "127.0.0.1:" + std::to_string(up.port());
        auto get = [&](const std::string& path, const std::string& version) {
            return test::raw_exchange(proxy.port, "GET http://" + target + path + " " + version + "\r\nHost: " + target +
                                                      "\r\nProxy-Authorization: Basic " + util::base64_encode("USER:PASS") +
                                                      "\r\nConnection: close\r\n\r\n", 10000);
        };

        // HTTP/1.1: the body goes out chunked (no length was given), whole, headers in order.
        auto one = get("/one", "HTTP/1.1");
        auto parsed = http::testing::parse_all(http::Parser::Kind::response, one);
        INFO(proxy.access_log_text());
        REQUIRE_MESSAGE(parsed.messages.size() == 1, one.substr(0, 300));
        CHECK(parsed.messages[0].head.status == 200);
        CHECK(parsed.messages[0].head.body == http::BodyKind::chunked);
        CHECK(parsed.messages[0].body == body);
        CHECK(test::header_lines(one) == std::vector<std::string>{"Content-Type: text/plain", "X-Order: 1", "X-Order: 2",
                                                                  "Transfer-Encoding: chunked", "Connection: close"});

        // HTTP/1.0 knows no chunks: the body runs until the close.
        auto two = get("/two", "HTTP/1.0");
        REQUIRE(two.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(util::to_lower(two).find("transfer-encoding") == std::string::npos);
        CHECK(two.substr(two.find("\r\n\r\n") + 4) == body);

        // The upstream breaks after 100 000 of its 300 000 bytes: the client gets the head with
        // the declared length and fewer bytes, then the close; the log names the break.
        auto three = get("/three", "HTTP/1.1");
        REQUIRE(three.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(three.find("Content-Length: 300000\r\n") != std::string::npos);
        CHECK(three.size() - (three.find("\r\n\r\n") + 4) == 100000);
        auto lines = proxy.access_log();
        REQUIRE(lines.size() == 3);
        CHECK(lines[2]["error"] == "upstream.connection_broken");
        CHECK_FALSE(lines[1].contains("error"));

        // A declared length goes on as it came.
        auto four = get("/four", "HTTP/1.1");
        CHECK(four.find("Content-Length: 300000\r\n") != std::string::npos);
        CHECK(four.substr(four.find("\r\n\r\n") + 4) == body);
    }

    TEST_CASE("an answer a response route must read whole is refused past limits.max_body_bytes") {
        auto pki = test::make_pki();
        const std::string big = "{\"card\":{\"number\":\"" + std::string(100000, '4') + "\"}}";
        test::RawUpstream up({{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(big.size()) + "\r\n\r\n" + big}});
        Proxy proxy(pki); // the echo route redacts $.card.number in answers from 127.0.0.1
        proxy.start();
        const std::string target = "127.0.0.1:" + std::to_string(up.port());
        auto answer = test::raw_exchange(proxy.port, "GET http://" + target + "/big HTTP/1.1\r\nHost: " + target +
                                                         "\r\nProxy-Authorization: Basic " + util::base64_encode("USER:PASS") +
                                                         "\r\nConnection: close\r\n\r\n");
        REQUIRE(answer.rfind("HTTP/1.1 502", 0) == 0);
        CHECK(answer.find("upstream.answer_too_large") != std::string::npos);
        CHECK(answer.find("limits.max_body_bytes") != std::string::npos);
        CHECK(answer.find("4444444444") == std::string::npos);
    }

    TEST_CASE("request bodies no route reads stream to the upstream past max_body_bytes; a route's body stays bounded") {
        auto pki = test::make_pki();
        // The upstream answers with the size and digest of what it received.
        test::UpstreamServer up(pki, {}, [](const http::Request& r) {
            http::Response res;
            res.headers = {{"Content-Type", "text/plain"}};
            res.body = std::to_string(r.body.size()) + ":" + util::to_hex(crypto::sha256(r.body));
            return res;
        });
        test::TempDir dir;
        std::string payload(3u << 19, '\0'); // 1.5 MiB: past the profile's 64 KiB limit and the 1 MiB window
        for (std::size_t i = 0; i < payload.size(); ++i)
            payload[i] = static_cast<char>('A' + (i * 7 + i / 4096) % 26);
        test::write_text(dir / "payload.bin", payload);
        const std::string file = "@" + (dir / "payload.bin").string();
        const std::string expected = std::to_string(payload.size()) + ":" + util::to_hex(crypto::sha256(payload));

        Proxy proxy(pki, {.routes = ""});
        proxy.start();
        auto sized = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/sized"), "--data-binary", file});
        INFO(sized.err);
        CHECK(sized.status == 200);
        CHECK(sized.body == expected);
        auto chunked = curl({"-x", proxy.url(), "--cacert", proxy.ca_file, up.url("/chunked"), "-H",
                             "Transfer-Encoding: chunked", "--data-binary", file});
        INFO(chunked.err);
        CHECK(chunked.status == 200);
        CHECK(chunked.body == expected);
        REQUIRE(up.request_count() == 2);
        // The declared length went on as declared; a chunked body went on chunked.
        CHECK(http::find(up.requests()[0].headers, "content-length") == std::to_string(payload.size()));
        CHECK(http::find(up.requests()[1].headers, "transfer-encoding") == "chunked");
        CHECK_FALSE(http::find(up.requests()[1].headers, "content-length"));

        // A streamed body that breaks mid-way (a bad chunk size): 400 for the client, the
        // upstream's request left unfinished (never handled), one log line for it.
        auto broken = test::raw_exchange(proxy.port, "POST " + up.url("/broken") + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                     "Proxy-Authorization: Basic " + util::base64_encode("USER:PASS") +
                                                     "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n\r\n");
        CHECK(broken.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(broken.find("request.malformed") != std::string::npos);
        std::vector<json> broken_lines;
        for (int i = 0; i < 50 && broken_lines.empty(); ++i) {
            for (const auto& line : proxy.access_log())
                if (line.value("path", "") == "/broken")
                    broken_lines.push_back(line);
            if (broken_lines.empty())
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        REQUIRE(broken_lines.size() == 1);
        CHECK(broken_lines[0]["status"] == 400);
        CHECK(up.request_count() == 2);

        // A request route reads the body: it is read whole, and over the limit refused with
        // nothing sent.
        Proxy routed(pki);
        routed.start();
        auto refused = curl({"-x", routed.url(), "--cacert", routed.ca_file, up.url("/routed"), "-H",
                             "Content-Type: application/json", "--data-binary", file});
        CHECK(refused.status == 413);
        CHECK(refused.body.find("request.too_large") != std::string::npos);
        CHECK(up.request_count() == 2);
        auto within = curl({"-x", routed.url(), "--cacert", routed.ca_file, up.url("/routed"), "-H",
                            "Content-Type: application/json", "-d", "{\"n\":1}"});
        CHECK(within.status == 200);
        CHECK(up.request_count() == 3);
    }
}
