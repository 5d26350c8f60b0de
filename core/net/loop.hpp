// SPDX-License-Identifier: Apache-2.0
#pragma once
// The event loop of serve's engine: one epoll set and one thread, owning the sockets registered
// with it. Other threads talk to it only through post(). Deadlines are kept in an ordered set,
// so epoll sleeps until the nearest one and there is no polling tick.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace vaultfwd::net {

class Loop {
  public:
    using Clock = std::chrono::steady_clock;
    // Something registered with the loop; called on the loop's thread.
    class Handler {
      public:
        virtual ~Handler() = default;
        virtual void on_events(std::uint32_t events) = 0; // EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP
        virtual void on_deadline() {}

      private:
        friend class Loop;
        static constexpr std::size_t k_untimed = static_cast<std::size_t>(-1);
        Clock::time_point m_when{};
        std::size_t m_slot = k_untimed; // its place in the loop's deadline heap
    };

    Loop();
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    // Loop thread only (or before run()).
    void add(int fd, std::uint32_t events, Handler* h);
    void modify(int fd, std::uint32_t events, Handler* h);
    void remove(int fd);
    // One deadline per handler: set replaces the previous one; on_deadline() is called once.
    void set_deadline(Handler* h, Clock::time_point when);
    void clear_deadline(Handler* h);

    // Loop thread only. Keeps `owner` alive while its work waits on this loop's events (an
    // upstream call); release() lets it go, after the current round. Whatever is kept when the
    // loop is destroyed goes with it.
    void keep(std::shared_ptr<void> owner);
    void release(const void* owner);

    // Loop thread only (or before run()). The loop's own T for `key`, made on first use: state
    // that belongs to one loop, such as the upstream client's idle connections registered with
    // it. Destroyed with the loop, before its epoll set closes.
    template <class T>
    T& local(std::uint64_t key) {
        auto& slot = m_locals[key];
        if (!slot)
            slot = std::make_shared<T>();
        return *static_cast<T*>(slot.get());
    }

    // Any thread: runs `fn` on the loop's thread soon (never inline).
    void post(std::function<void()> fn);
    // Runs until stop(); on the calling thread.
    void run();
    // Any thread; run() returns after the current round.
    void stop();
    bool on_loop_thread() const { return std::this_thread::get_id() == m_thread.load(std::memory_order_relaxed); }

  private:
    void fire_deadlines();
    // The deadlines: a binary min-heap of handlers by m_when, each knowing its slot, so that
    // setting, moving and clearing one allocates nothing (serve moves several per request).
    void heap_place(std::size_t slot, Handler* h);
    void heap_up(std::size_t slot);
    void heap_down(std::size_t slot);
    void heap_remove(Handler* h);
    int m_epoll = -1;
    int m_wake = -1; // eventfd
    std::vector<Handler*> m_timers;
    std::mutex m_mutex;
    std::vector<std::function<void()>> m_posted;
    std::unordered_map<const void*, std::shared_ptr<void>> m_kept;
    std::unordered_map<std::uint64_t, std::shared_ptr<void>> m_locals;
    bool m_stop = false;
    std::atomic<std::thread::id> m_thread; // the thread in run(); none before
};

// A fixed set of threads for handler work (vault, templates, JsonLogic, blocking upstream calls).
class Workers {
  public:
    explicit Workers(std::size_t threads);
    ~Workers(); // finishes queued work, joins
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;
    void submit(std::function<void()> job);
    std::size_t queued() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace vaultfwd::net
