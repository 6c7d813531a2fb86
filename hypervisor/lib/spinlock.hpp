// Ticket spinlocks, taken only through RAII guards.
//
// Fair (FIFO) so no CPU starves under contention. Debug builds check the
// locking rule of docs/architecture.md: a given lock is always taken with
// interrupts in the same state (a lock taken both with IRQs on and from an
// IRQ handler can deadlock one CPU against itself).
#pragma once

#include <stdint.h>

#include "arch/cpu.hpp"

namespace virtue {

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

class SpinLock {
  public:
    constexpr SpinLock() = default;
    SpinLock(const SpinLock&) = delete;
    SpinLock& operator=(const SpinLock&) = delete;

    void lock() {
        check_irq_state();
        uint16_t ticket = __atomic_fetch_add(&next_, 1, __ATOMIC_RELAXED);
        while (__atomic_load_n(&owner_, __ATOMIC_ACQUIRE) != ticket) arch::cpu_relax();
    }
    // lock(), calling poll() while it waits (e.g. to answer TLB-flush
    // requests a holder may be waiting for).
    template <typename Poll> void lock_polling(Poll poll) {
        check_irq_state();
        uint16_t ticket = __atomic_fetch_add(&next_, 1, __ATOMIC_RELAXED);
        while (__atomic_load_n(&owner_, __ATOMIC_ACQUIRE) != ticket) {
            poll();
            arch::cpu_relax();
        }
    }
    bool try_lock() {
        uint16_t owner = __atomic_load_n(&owner_, __ATOMIC_RELAXED);
        uint16_t expected = owner;
        return __atomic_compare_exchange_n(&next_, &expected, static_cast<uint16_t>(owner + 1), false,
                                           __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
    }
    void unlock() { __atomic_store_n(&owner_, static_cast<uint16_t>(owner_ + 1), __ATOMIC_RELEASE); }
    bool is_locked() const {
        return __atomic_load_n(&owner_, __ATOMIC_RELAXED) != __atomic_load_n(&next_, __ATOMIC_RELAXED);
    }
    // Panic path only: the holder is a stopped CPU and will never release.
    void force_unlock() { __atomic_store_n(&owner_, __atomic_load_n(&next_, __ATOMIC_RELAXED), __ATOMIC_RELEASE); }

  private:
    void check_irq_state() {
#ifdef VIRTUE_DEBUG
        int8_t mode = arch::irqs_enabled() ? 1 : 0;
        int8_t seen = __atomic_load_n(&irq_mode_, __ATOMIC_RELAXED);
        if (seen < 0) __atomic_store_n(&irq_mode_, mode, __ATOMIC_RELAXED);
        else if (seen != mode)
            panic("spinlock %p taken with IRQs %s, earlier %s", static_cast<void*>(this),
                  mode ? "on" : "off", seen ? "on" : "off");
#endif
    }
    uint16_t next_ = 0;
    uint16_t owner_ = 0;
#ifdef VIRTUE_DEBUG
    int8_t irq_mode_ = -1;
#endif
};

// Holds a lock for a scope, calling poll() while it waits: for locks whose
// holder may be waiting for this CPU (e.g. for an answer to a TLB
// shootdown, arch::tlb_serve_requests).
class PollingLockGuard {
  public:
    PollingLockGuard(SpinLock& l, void (*poll)()) : lock_(l) { lock_.lock_polling(poll); }
    ~PollingLockGuard() { lock_.unlock(); }
    PollingLockGuard(const PollingLockGuard&) = delete;
    PollingLockGuard& operator=(const PollingLockGuard&) = delete;

  private:
    SpinLock& lock_;
};

// Holds a lock for a scope; for locks never taken from interrupt context.
class LockGuard {
  public:
    explicit LockGuard(SpinLock& l) : lock_(l) { lock_.lock(); }
    ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

  private:
    SpinLock& lock_;
};

// Disables interrupts, then holds the lock; restores both on scope exit.
class IrqLockGuard {
  public:
    explicit IrqLockGuard(SpinLock& l) : lock_(l), flags_(arch::irq_save()) { lock_.lock(); }
    ~IrqLockGuard() {
        lock_.unlock();
        arch::irq_restore(flags_);
    }
    IrqLockGuard(const IrqLockGuard&) = delete;
    IrqLockGuard& operator=(const IrqLockGuard&) = delete;

  private:
    SpinLock& lock_;
    uint64_t flags_;
};

} // namespace virtue
