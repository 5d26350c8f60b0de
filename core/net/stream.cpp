// SPDX-License-Identifier: Apache-2.0
#include "core/net/stream.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

namespace vaultfwd::net {

// ---- SocketStream ----

SocketStream::SocketStream(int fd) : m_fd(fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

SocketStream::~SocketStream() {
    if (m_fd >= 0)
        ::close(m_fd);
}

Io SocketStream::read(char* buf, std::size_t cap, std::size_t& n) {
    n = 0;
    for (;;) {
        ssize_t rc = ::recv(m_fd, buf, cap, 0);
        if (rc > 0) {
            n = static_cast<std::size_t>(rc);
            return Io::ok;
        }
        if (rc == 0)
            return Io::eof;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? Io::want_read : Io::error;
    }
}

Io SocketStream::write(const char* buf, std::size_t len, std::size_t& n) {
    n = 0;
    for (;;) {
        ssize_t rc = ::send(m_fd, buf, len, MSG_NOSIGNAL);
        if (rc >= 0) {
            n = static_cast<std::size_t>(rc);
            return Io::ok;
        }
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? Io::want_write : Io::error;
    }
}

void SocketStream::shutdown_write() { ::shutdown(m_fd, SHUT_WR); }

// ---- TlsStream ----
//
// The SSL object talks to the lower stream through a BIO of our own, so TLS runs the same way
// over a socket and over another TLS stream. The lower stream's last "would block" is kept: an
// inner TLS read may need the outer stream to write first, and the caller must wait for that.

namespace {

struct BioState {
    Stream* lower = nullptr;
    std::string preread; // served before the lower stream
    std::size_t preread_off = 0;
    Io last = Io::ok; // the lower stream's last would-block or failure
    bool read_ahead = false; // the lower stream is a socket: read more than OpenSSL asks for
};

// A TLS record's most (16 KiB of data and its overhead): one recv can take a whole one.
constexpr std::size_t k_read_ahead = 17 * 1024 + 512;

int bio_write(BIO* bio, const char* data, int len) {
    auto* st = static_cast<BioState*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    std::size_t n = 0;
    Io io = st->lower->write(data, static_cast<std::size_t>(len), n);
    st->last = io;
    if (io == Io::ok)
        return static_cast<int>(n);
    if (io == Io::want_read || io == Io::want_write) {
        BIO_set_retry_write(bio);
        return -1;
    }
    return -1;
}

int bio_read(BIO* bio, char* data, int len) {
    auto* st = static_cast<BioState*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (st->preread_off < st->preread.size()) {
        std::size_t n = std::min(st->preread.size() - st->preread_off, static_cast<std::size_t>(len));
        std::copy_n(st->preread.data() + st->preread_off, n, data);
        st->preread_off += n;
        if (st->preread_off == st->preread.size()) {
            st->preread.clear();
            st->preread_off = 0;
        }
        st->last = Io::ok;
        return static_cast<int>(n);
    }
    std::size_t n = 0;
    Io io;
    if (st->read_ahead && static_cast<std::size_t>(len) < k_read_ahead) {
        // OpenSSL asks for a record's header and then its body: one recv takes what the socket
        // has, and what OpenSSL did not ask for yet is served from `preread` (so readable_now()
        // is true exactly while bytes are held here; OpenSSL takes them all before it says it
        // wants to read). The scratch is per thread: a socket's BIO never calls another BIO.
        thread_local std::unique_ptr<char[]> scratch(new char[k_read_ahead]);
        io = st->lower->read(scratch.get(), k_read_ahead, n);
        if (io == Io::ok && n > static_cast<std::size_t>(len)) {
            st->preread.assign(scratch.get() + len, n - static_cast<std::size_t>(len));
            n = static_cast<std::size_t>(len);
        }
        if (io == Io::ok)
            std::copy_n(scratch.get(), n, data);
    } else {
        io = st->lower->read(data, static_cast<std::size_t>(len), n);
    }
    st->last = io;
    if (io == Io::ok)
        return static_cast<int>(n);
    if (io == Io::want_read || io == Io::want_write) {
        BIO_set_retry_read(bio);
        return -1;
    }
    return io == Io::eof ? 0 : -1;
}

long bio_ctrl(BIO*, int cmd, long, void*) {
    switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_PUSH:
    case BIO_CTRL_POP:
        return 1;
    default:
        return 0;
    }
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

BIO_METHOD* stream_bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vaultfwd-stream");
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        return m;
    }();
    return method;
}

} // namespace

struct TlsStream::Impl {
    BioState bio;
    bool broken = false; // after a fatal error no close_notify may be sent
    bool shut = false;
};

TlsStream::TlsStream(std::unique_ptr<Stream> lower, SSL_CTX* ctx, TlsRole role, std::string already_read)
    : m_lower(std::move(lower)), m_ssl(SSL_new(ctx)), m_impl(std::make_unique<Impl>()) {
    m_impl->bio.lower = m_lower.get();
    m_impl->bio.preread = std::move(already_read);
    m_impl->bio.read_ahead = dynamic_cast<SocketStream*>(m_lower.get()) != nullptr;
    if (!m_ssl) {
        m_impl->broken = true;
        m_error = ossl::last_error();
        return;
    }
    BIO* bio = BIO_new(stream_bio_method());
    BIO_set_data(bio, &m_impl->bio);
    SSL_set_bio(m_ssl.get(), bio, bio);
    SSL_set_mode(m_ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (role == TlsRole::server)
        SSL_set_accept_state(m_ssl.get());
    else
        SSL_set_connect_state(m_ssl.get());
}

TlsStream::~TlsStream() {
    if (m_ssl && !m_impl->broken && !m_impl->shut && SSL_is_init_finished(m_ssl.get())) {
        ERR_clear_error();
        SSL_shutdown(m_ssl.get());
    }
    ERR_clear_error();
    m_ssl.reset(); // before the lower stream its BIO points at
}

namespace {

// Maps an SSL result to Io; for "would block" the lower stream's own want decides what to wait
// for (an inner TLS read may be waiting for the outer stream to write).
Io status_of(SSL* ssl, int rc, BioState& bio, bool& broken, std::string* error) {
    int err = SSL_get_error(ssl, rc);
    switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: {
        ERR_clear_error();
        if (bio.last == Io::want_read || bio.last == Io::want_write)
            return bio.last;
        return err == SSL_ERROR_WANT_READ ? Io::want_read : Io::want_write;
    }
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return Io::eof;
    default:
        broken = true;
        if (error) {
            unsigned long e = ERR_peek_error();
            if (e != 0) {
                *error = ossl::last_error();
            } else if (bio.last == Io::eof) {
                *error = "the peer closed the connection";
            } else {
                *error = "the connection broke";
            }
        }
        ERR_clear_error();
        return Io::error;
    }
}

// One SSL_read or SSL_write: n bytes moved, or what to wait for.
template <class Op> Io ssl_io(SSL* ssl, BioState& bio, bool& broken, std::size_t& n, Op op) {
    ERR_clear_error();
    bio.last = Io::ok;
    int rc = op();
    if (rc > 0) {
        n = static_cast<std::size_t>(rc);
        return Io::ok;
    }
    return status_of(ssl, rc, bio, broken, nullptr);
}

} // namespace

Io TlsStream::handshake() {
    if (!m_ssl)
        return Io::error;
    ERR_clear_error();
    m_impl->bio.last = Io::ok;
    int rc = SSL_do_handshake(m_ssl.get());
    if (rc == 1)
        return Io::ok;
    Io io = status_of(m_ssl.get(), rc, m_impl->bio, m_impl->broken, &m_error);
    if (io == Io::eof) {
        m_impl->broken = true;
        if (m_error.empty())
            m_error = "the peer closed the connection during the handshake";
        return Io::error;
    }
    return io;
}

Io TlsStream::read(char* buf, std::size_t cap, std::size_t& n) {
    n = 0;
    if (!m_ssl || m_impl->broken)
        return Io::error;
    Io io = ssl_io(m_ssl.get(), m_impl->bio, m_impl->broken, n,
                   [&] { return SSL_read(m_ssl.get(), buf, static_cast<int>(std::min<std::size_t>(cap, INT_MAX))); });
    // A peer that closes the socket without close_notify: the stream ended all the same (HTTP
    // framing tells whether a message was cut short).
    if (io == Io::error && m_impl->bio.last == Io::eof)
        return Io::eof;
    return io;
}

Io TlsStream::write(const char* buf, std::size_t len, std::size_t& n) {
    n = 0;
    if (!m_ssl || m_impl->broken)
        return Io::error;
    if (len == 0)
        return Io::ok;
    Io io = ssl_io(m_ssl.get(), m_impl->bio, m_impl->broken, n,
                   [&] { return SSL_write(m_ssl.get(), buf, static_cast<int>(std::min<std::size_t>(len, INT_MAX))); });
    return io == Io::eof ? Io::error : io;
}

std::size_t TlsStream::pending_out() const { return m_lower->pending_out(); }

Io TlsStream::flush() { return m_lower->flush(); }

void TlsStream::shutdown_write() {
    if (m_ssl && !m_impl->broken && !m_impl->shut && SSL_is_init_finished(m_ssl.get())) {
        ERR_clear_error();
        SSL_shutdown(m_ssl.get());
        ERR_clear_error();
    }
    m_impl->shut = true;
    m_lower->shutdown_write();
}

bool TlsStream::readable_now() const {
    return (m_ssl && SSL_pending(m_ssl.get()) > 0) || !m_impl->bio.preread.empty() || m_lower->readable_now();
}

// ---- blocking helpers ----

bool wait(Stream& s, Io want, Clock::time_point deadline) {
    if (want == Io::want_read && s.readable_now())
        return true;
    for (;;) {
        auto now = Clock::now();
        if (now >= deadline)
            return false;
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        pollfd p{s.fd(), static_cast<short>(want == Io::want_write ? POLLOUT : POLLIN), 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
}

bool write_all(Stream& s, std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
        std::size_t n = 0;
        Io io = s.write(data.data(), data.size(), n);
        if (io == Io::ok) {
            data.remove_prefix(n);
        } else if (io == Io::want_read || io == Io::want_write) {
            if (!wait(s, io, deadline))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

Io read_some(Stream& s, std::string& out, Clock::time_point deadline, bool& timed_out) {
    timed_out = false;
    char tmp[16384];
    for (;;) {
        std::size_t n = 0;
        Io io = s.read(tmp, sizeof tmp, n);
        if (io == Io::ok) {
            out.append(tmp, n);
            return Io::ok;
        }
        if (io != Io::want_read && io != Io::want_write)
            return io;
        if (!wait(s, io, deadline)) {
            timed_out = Clock::now() >= deadline;
            return Io::error;
        }
    }
}

bool handshake(TlsStream& s, Clock::time_point deadline, bool& timed_out) {
    timed_out = false;
    for (;;) {
        Io io = s.handshake();
        if (io == Io::ok)
            return true;
        if (io != Io::want_read && io != Io::want_write)
            return false;
        if (!wait(s, io, deadline)) {
            timed_out = Clock::now() >= deadline;
            return false;
        }
    }
}

} // namespace vaultfwd::net
