// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one byte-stream type of vaultfwd's HTTP engine: a non-blocking socket, or TLS (OpenSSL
// directly) over another stream, so TLS runs over a socket or over another TLS stream (CONNECT
// inside a TLS proxy port). Used by serve's event loop (non-blocking, woken by epoll) and by the
// upstream client on worker threads (blocking with deadlines, through wait()).

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/util/ossl.hpp"

namespace vaultfwd::net {

using Clock = std::chrono::steady_clock;

enum class Io { ok, want_read, want_write, eof, error };

class Stream {
  public:
    virtual ~Stream() = default;
    // Reads up to `cap` bytes (n > 0 with Io::ok). want_read/want_write: wait on fd() for that
    // and call again. eof: the peer ended the stream cleanly.
    virtual Io read(char* buf, std::size_t cap, std::size_t& n) = 0;
    // Writes up to `len` bytes (n > 0 with Io::ok, possibly fewer than len).
    virtual Io write(const char* buf, std::size_t len, std::size_t& n) = 0;
    // Bytes the stream holds for its lower stream (TLS records not yet sent): flush() until 0.
    virtual std::size_t pending_out() const { return 0; }
    virtual Io flush() { return Io::ok; }
    // Ends the sending side (TLS close_notify, then the socket's write side). Best effort.
    virtual void shutdown_write() = 0;
    // The socket underneath every layer.
    virtual int fd() const = 0;
    // Bytes already decrypted or buffered that read() returns without waiting on fd().
    virtual bool readable_now() const { return false; }
};

// A connected socket; owns and closes the descriptor. Sets it non-blocking.
class SocketStream final : public Stream {
  public:
    explicit SocketStream(int fd);
    ~SocketStream() override;
    SocketStream(const SocketStream&) = delete;
    SocketStream& operator=(const SocketStream&) = delete;

    Io read(char* buf, std::size_t cap, std::size_t& n) override;
    Io write(const char* buf, std::size_t len, std::size_t& n) override;
    void shutdown_write() override;
    int fd() const override { return m_fd; }

  private:
    int m_fd;
};

enum class TlsRole { client, server };

// TLS over `lower`. The SSL object is made from `ctx` (its verification, certificates, ALPN and
// SNI callbacks are the caller's); set SNI / host checks on ssl() before handshake().
// `already_read`: bytes read from `lower` before TLS began (the first bytes inside a tunnel).
class TlsStream final : public Stream {
  public:
    TlsStream(std::unique_ptr<Stream> lower, SSL_CTX* ctx, TlsRole role, std::string already_read = {});
    ~TlsStream() override;
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    // Drives the handshake: ok when done, want_read/want_write to wait, error otherwise
    // (handshake_error() then says why, for logs: never key material).
    Io handshake();
    std::string handshake_error() const { return m_error; }
    SSL* ssl() const { return m_ssl.get(); }
    Stream& lower() { return *m_lower; }

    Io read(char* buf, std::size_t cap, std::size_t& n) override;
    Io write(const char* buf, std::size_t len, std::size_t& n) override;
    std::size_t pending_out() const override;
    Io flush() override;
    void shutdown_write() override;
    int fd() const override { return m_lower->fd(); }
    bool readable_now() const override;

  private:
    struct Impl;
    std::unique_ptr<Stream> m_lower;
    ossl::SslPtr m_ssl;
    std::string m_error;
    std::unique_ptr<Impl> m_impl;
};

// Blocking helpers for worker threads. Each waits on the stream's socket with poll() for what
// the last call asked (want_read / want_write), until `deadline`; false on timeout, EOF or error.
bool wait(Stream& s, Io want, Clock::time_point deadline);
bool write_all(Stream& s, std::string_view data, Clock::time_point deadline);
// Reads at least one byte, appended to `out`. Io::ok, eof, or error (a timeout is error with
// `timed_out` set).
Io read_some(Stream& s, std::string& out, Clock::time_point deadline, bool& timed_out);
bool handshake(TlsStream& s, Clock::time_point deadline, bool& timed_out);

} // namespace vaultfwd::net
