// SDK-internal declarations shared by the runtime's files.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <virtue/native_calls.hpp>

namespace virtue::detail {

// Called once by thread 0 before the static constructors (start.cpp).
void bootinfo_init(const void* fdt, uint64_t size);

// A test-and-set lock for the few shared structures of the runtime. Threads of
// a domain may be preempted while holding it, so waiters yield instead of
// spinning for long.
class SpinLock {
  public:
    void lock() {
        for (unsigned tries = 0; __atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE); tries++) {
            if (tries < 64) asm volatile("pause");
            else sys::yield();
        }
    }
    void unlock() { __atomic_store_n(&locked_, false, __ATOMIC_RELEASE); }

  private:
    bool locked_ = false;
};

class LockGuard {
  public:
    explicit LockGuard(SpinLock& l) : lock_(l) { lock_.lock(); }
    ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

  private:
    SpinLock& lock_;
};

} // namespace virtue::detail
