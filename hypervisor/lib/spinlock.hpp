// Ticket spinlocks, taken only through the RAII guards below.
//
// Fair (FIFO) so no CPU starves under contention. Every lock has a rank
// (lib/lock_rank.hpp) that fixes where it may nest. Debug builds check the
// locking rules of docs/architecture.md on every acquisition and panic
// otherwise:
//   - a given lock is always taken with interrupts in the same state (a
//     lock taken both with IRQs on and from an IRQ handler can deadlock
//     one CPU against itself);
//   - a CPU takes a lock only above every lock it holds (lib/lock_rank.hpp);
//   - a CPU releases only locks it holds.
// Release builds keep neither the rank nor the checks.
//
// lock(), unlock() and their variants are private: the guards are the
// only way in, so no path can forget an unlock.
#pragma once

#include <stdint.h>

#include "arch/cpu.hpp"
#include "lib/lock_rank.hpp"

namespace virtue {

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef VIRTUE_DEBUG
// The rank checks (lib/spinlock.cpp), on this CPU's held locks.
void lock_rank_acquire(const void* lock, LockRank rank); // checks, then records
void lock_rank_took(const void* lock, LockRank rank);    // records (a try-lock)
void lock_rank_release(const void* lock);
// The panic path stops all checking: it breaks and retakes locks as it must.
void lock_ranks_stop();
// A context switch: the CPU must hold `queue_lock` and nothing else (a
// spinlock held by a thread that is switched out would stay recorded on
// this CPU, and could never be released on the one the thread resumes on).
void lock_ranks_check_switch(const void* queue_lock);
#else
inline void lock_ranks_stop() {}
inline void lock_ranks_check_switch(const void*) {}
#endif

class SpinLock {
  public:
    constexpr explicit SpinLock(LockRank rank)
#ifdef VIRTUE_DEBUG
        : rank_(rank)
#endif
    {
        (void)rank;
    }
    SpinLock(const SpinLock&) = delete;
    SpinLock& operator=(const SpinLock&) = delete;

    bool is_locked() const {
        return __atomic_load_n(&owner_, __ATOMIC_RELAXED) != __atomic_load_n(&next_, __ATOMIC_RELAXED);
    }
    // Panic path only: the holder is a stopped CPU and will never release.
    void force_unlock() { __atomic_store_n(&owner_, __atomic_load_n(&next_, __ATOMIC_RELAXED), __ATOMIC_RELEASE); }

  private:
    friend class LockGuard;
    friend class IrqLockGuard;
    friend class PollingLockGuard;
    friend class TryLockGuard;
    friend class UniqueLock;
    friend class IrqLockPairGuard;

    void lock() {
        before_wait();
        uint16_t ticket = __atomic_fetch_add(&next_, 1, __ATOMIC_RELAXED);
        // Acquire: the holder's writes, published by its release in
        // unlock(), are visible once our ticket is served.
        while (__atomic_load_n(&owner_, __ATOMIC_ACQUIRE) != ticket) arch::cpu_relax();
    }
    // lock(), calling poll() while it waits (e.g. to answer TLB-flush
    // requests a holder may be waiting for).
    template <typename Poll> void lock_polling(Poll poll) {
        before_wait();
        uint16_t ticket = __atomic_fetch_add(&next_, 1, __ATOMIC_RELAXED);
        while (__atomic_load_n(&owner_, __ATOMIC_ACQUIRE) != ticket) {
            poll();
            arch::cpu_relax();
        }
    }
    bool try_lock() {
        uint16_t owner = __atomic_load_n(&owner_, __ATOMIC_RELAXED);
        uint16_t expected = owner;
        bool got = __atomic_compare_exchange_n(&next_, &expected, static_cast<uint16_t>(owner + 1), false,
                                               __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
#ifdef VIRTUE_DEBUG
        if (got) lock_rank_took(this, rank_);
#endif
        return got;
    }
    void unlock() {
#ifdef VIRTUE_DEBUG
        lock_rank_release(this);
#endif
        // Release: everything written under the lock is visible to the
        // next holder (whose acquire load sees this store).
        __atomic_store_n(&owner_, static_cast<uint16_t>(owner_ + 1), __ATOMIC_RELEASE);
    }

    void before_wait() {
#ifdef VIRTUE_DEBUG
        check_irq_state();
        lock_rank_acquire(this, rank_);
#endif
    }
#ifdef VIRTUE_DEBUG
    void check_irq_state() {
        int8_t mode = arch::irqs_enabled() ? 1 : 0;
        int8_t seen = __atomic_load_n(&irq_mode_, __ATOMIC_RELAXED);
        if (seen < 0) __atomic_store_n(&irq_mode_, mode, __ATOMIC_RELAXED);
        else if (seen != mode)
            panic("spinlock %p (%s) taken with IRQs %s, earlier %s", static_cast<void*>(this),
                  lock_rank_name(rank_), mode ? "on" : "off", seen ? "on" : "off");
    }
#endif
    uint16_t next_ = 0;
    uint16_t owner_ = 0;
#ifdef VIRTUE_DEBUG
    int8_t irq_mode_ = -1;
    LockRank rank_;
#endif
};

#ifndef VIRTUE_DEBUG
static_assert(sizeof(SpinLock) == 4, "a release build's lock is its two tickets");
#endif

// Holds a lock for a scope; for locks never taken from interrupt context
// (or taken where interrupts are already off).
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

// Tries the lock once; holds it for the scope if it got it. Never waits,
// so it may be used against the rank order (see lib/lock_rank.hpp).
class TryLockGuard {
  public:
    explicit TryLockGuard(SpinLock& l) : lock_(l), held_(l.try_lock()) {}
    ~TryLockGuard() {
        if (held_) lock_.unlock();
    }
    TryLockGuard(const TryLockGuard&) = delete;
    TryLockGuard& operator=(const TryLockGuard&) = delete;
    explicit operator bool() const { return held_; }

  private:
    SpinLock& lock_;
    bool held_;
};

// Two locks of one rank that may nest (lib/lock_rank.hpp), with interrupts
// off: the lower address first, so two CPUs taking the same pair agree.
// The same lock twice is taken once.
class IrqLockPairGuard {
  public:
    IrqLockPairGuard(SpinLock& a, SpinLock& b) : flags_(arch::irq_save()) {
        first_ = &a;
        second_ = &b == &a ? nullptr : &b;
        if (second_ && reinterpret_cast<uintptr_t>(second_) < reinterpret_cast<uintptr_t>(first_)) {
            second_ = &a;
            first_ = &b;
        }
        first_->lock();
        if (second_) second_->lock();
    }
    ~IrqLockPairGuard() {
        if (second_) second_->unlock();
        first_->unlock();
        arch::irq_restore(flags_);
    }
    IrqLockPairGuard(const IrqLockPairGuard&) = delete;
    IrqLockPairGuard& operator=(const IrqLockPairGuard&) = delete;

  private:
    uint64_t flags_;
    SpinLock* first_;
    SpinLock* second_;
};

// A lock whose hold does not match one scope, for the scheduler (callers
// have interrupts off): it may be released early (unlock), or left held
// past the guard (hand_over) for code running after a context switch,
// which adopts it (kAdoptLock) and releases it. The CPU is the same on
// both sides of a switch, so the rank checks see one hold.
struct AdoptLock {};
inline constexpr AdoptLock kAdoptLock{};

class UniqueLock {
  public:
    explicit UniqueLock(SpinLock& l) : lock_(l), held_(true) { lock_.lock(); }
    // A lock this CPU holds already (handed over).
    UniqueLock(SpinLock& l, AdoptLock) : lock_(l), held_(true) {}
    ~UniqueLock() {
        if (held_) lock_.unlock();
    }
    UniqueLock(const UniqueLock&) = delete;
    UniqueLock& operator=(const UniqueLock&) = delete;

    void unlock() {
        held_ = false;
        lock_.unlock();
    }
    // Leaves the lock held after this guard; someone adopts it.
    void hand_over() { held_ = false; }
    bool held() const { return held_; }

  private:
    SpinLock& lock_;
    bool held_;
};

} // namespace virtue
