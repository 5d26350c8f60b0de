// SPDX-License-Identifier: Apache-2.0
#include "core/net/loop.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <deque>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vaultfwd::net {

Loop::Loop() {
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    m_wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_epoll < 0 || m_wake < 0)
        throw std::runtime_error("cannot create the event loop (epoll/eventfd)");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr; // the wake-up descriptor
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wake, &ev);
}

Loop::~Loop() {
    // What is kept or posted may still hold descriptors registered here: they go first.
    m_kept.clear();
    m_posted.clear();
    m_locals.clear();
    m_posted.clear(); // what the locals posted as they went
    ::close(m_wake);
    ::close(m_epoll);
}

void Loop::add(int fd, std::uint32_t events, Handler* h) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = h;
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev);
}

void Loop::modify(int fd, std::uint32_t events, Handler* h) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = h;
    ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &ev);
}

void Loop::remove(int fd) { ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr); }

void Loop::heap_place(std::size_t slot, Handler* h) {
    m_timers[slot] = h;
    h->m_slot = slot;
}

void Loop::heap_up(std::size_t slot) {
    Handler* h = m_timers[slot];
    while (slot > 0) {
        std::size_t parent = (slot - 1) / 2;
        if (!(h->m_when < m_timers[parent]->m_when))
            break;
        heap_place(slot, m_timers[parent]);
        slot = parent;
    }
    heap_place(slot, h);
}

void Loop::heap_down(std::size_t slot) {
    Handler* h = m_timers[slot];
    const std::size_t n = m_timers.size();
    while (true) {
        std::size_t child = 2 * slot + 1;
        if (child >= n)
            break;
        if (child + 1 < n && m_timers[child + 1]->m_when < m_timers[child]->m_when)
            ++child;
        if (!(m_timers[child]->m_when < h->m_when))
            break;
        heap_place(slot, m_timers[child]);
        slot = child;
    }
    heap_place(slot, h);
}

void Loop::heap_remove(Handler* h) {
    std::size_t slot = h->m_slot;
    h->m_slot = Handler::k_untimed;
    Handler* last = m_timers.back();
    m_timers.pop_back();
    if (last == h)
        return;
    heap_place(slot, last);
    heap_up(slot);
    heap_down(last->m_slot);
}

void Loop::set_deadline(Handler* h, Clock::time_point when) {
    if (h->m_slot != Handler::k_untimed) {
        if (h->m_when == when)
            return;
        const bool later = h->m_when < when;
        h->m_when = when;
        if (later)
            heap_down(h->m_slot);
        else
            heap_up(h->m_slot);
        return;
    }
    h->m_when = when;
    m_timers.push_back(h);
    heap_up(m_timers.size() - 1);
}

void Loop::clear_deadline(Handler* h) {
    if (h->m_slot != Handler::k_untimed)
        heap_remove(h);
}

void Loop::post(std::function<void()> fn) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_posted.push_back(std::move(fn));
    }
    // The loop's own thread is between two epoll_waits: run() looks at what was posted before
    // it waits again, so only another thread needs to wake it.
    if (on_loop_thread())
        return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(m_wake, &one, sizeof one);
}

void Loop::keep(std::shared_ptr<void> owner) {
    const void* key = owner.get();
    m_kept.emplace(key, std::move(owner));
}

void Loop::release(const void* owner) {
    auto it = m_kept.find(owner);
    if (it == m_kept.end())
        return;
    // Destroyed after this round: the owner may be on the call stack.
    post([gone = std::move(it->second)] {});
    m_kept.erase(it);
}

void Loop::stop() {
    post([this] { m_stop = true; });
}

void Loop::fire_deadlines() {
    auto now = Clock::now();
    while (!m_timers.empty() && m_timers.front()->m_when <= now) {
        Handler* h = m_timers.front();
        heap_remove(h);
        h->on_deadline(); // may delete h, or set a new deadline
    }
}

void Loop::run() {
    m_thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
    constexpr int k_events = 256;
    epoll_event events[k_events];
    std::vector<std::function<void()>> posted;
    while (!m_stop) {
        int timeout = -1;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (!m_posted.empty()) // posted by this thread during the last round: no waiting
                timeout = 0;
        }
        if (timeout != 0 && !m_timers.empty()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(m_timers.front()->m_when - Clock::now()).count();
            timeout = static_cast<int>(std::clamp<long long>(left + 1, 0, INT_MAX));
        }
        int n = ::epoll_wait(m_epoll, events, k_events, timeout);
        if (n < 0 && errno != EINTR)
            break;
        bool woken = false;
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == nullptr) {
                woken = true;
                continue;
            }
            static_cast<Handler*>(events[i].data.ptr)->on_events(events[i].events);
        }
        // Posted work runs after this round's events: a handler deleted by posted work is never
        // called again in the same round (deletions are posted, see the engine).
        if (woken) {
            std::uint64_t count;
            [[maybe_unused]] auto r = ::read(m_wake, &count, sizeof count);
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            posted.swap(m_posted);
        }
        for (auto& fn : posted)
            fn();
        posted.clear();
        fire_deadlines();
    }
}

// ---- Workers ----

struct Workers::Impl {
    mutable std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::function<void()>> jobs;
    bool stopping = false;
    std::vector<std::thread> threads;
};

Workers::Workers(std::size_t threads) : m_impl(std::make_unique<Impl>()) {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, threads); ++i)
        m_impl->threads.emplace_back([this] {
            for (;;) {
                std::function<void()> job;
                {
                    std::unique_lock<std::mutex> lock(m_impl->mutex);
                    m_impl->cv.wait(lock, [this] { return m_impl->stopping || !m_impl->jobs.empty(); });
                    if (m_impl->jobs.empty())
                        return;
                    job = std::move(m_impl->jobs.front());
                    m_impl->jobs.pop_front();
                }
                job();
            }
        });
}

Workers::~Workers() {
    {
        std::lock_guard<std::mutex> lock(m_impl->mutex);
        m_impl->stopping = true;
    }
    m_impl->cv.notify_all();
    for (auto& t : m_impl->threads)
        t.join();
}

void Workers::submit(std::function<void()> job) {
    {
        std::lock_guard<std::mutex> lock(m_impl->mutex);
        m_impl->jobs.push_back(std::move(job));
    }
    m_impl->cv.notify_one();
}

std::size_t Workers::queued() const {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    return m_impl->jobs.size();
}

} // namespace vaultfwd::net
