// Atomic<T>: a value shared between CPUs (or with an interrupt handler)
// outside any lock. Every access names its memory order, so each use says
// what it orders; there are no implicit loads or stores. Built on the
// compiler's __atomic builtins (a freestanding build has no <atomic>).
//
// T: a trivially copyable type of 1, 2, 4 or 8 bytes (integers, enums,
// pointers, function pointers).
#pragma once

#include <stdint.h>

namespace virtue {

enum class MemOrder : int {
    Relaxed = __ATOMIC_RELAXED,
    Acquire = __ATOMIC_ACQUIRE,
    Release = __ATOMIC_RELEASE,
    AcqRel = __ATOMIC_ACQ_REL,
    SeqCst = __ATOMIC_SEQ_CST,
};

template <typename T> class Atomic {
    static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);

  public:
    constexpr Atomic() : value_() {}
    constexpr Atomic(T v) : value_(v) {} // NOLINT: initialisation is not shared yet
    Atomic(const Atomic&) = delete;
    Atomic& operator=(const Atomic&) = delete;

    T load(MemOrder o) const {
        T v;
        __atomic_load(&value_, &v, static_cast<int>(o));
        return v;
    }
    void store(T v, MemOrder o) { __atomic_store(&value_, &v, static_cast<int>(o)); }
    T exchange(T v, MemOrder o) {
        T old;
        __atomic_exchange(&value_, &v, &old, static_cast<int>(o));
        return old;
    }
    // On failure `expected` receives the current value.
    bool compare_exchange(T& expected, T desired, MemOrder success, MemOrder failure) {
        return __atomic_compare_exchange(&value_, &expected, &desired, false, static_cast<int>(success),
                                         static_cast<int>(failure));
    }
    // Integers only.
    T fetch_add(T d, MemOrder o) { return __atomic_fetch_add(&value_, d, static_cast<int>(o)); }
    T fetch_sub(T d, MemOrder o) { return __atomic_fetch_sub(&value_, d, static_cast<int>(o)); }
    T fetch_or(T d, MemOrder o) { return __atomic_fetch_or(&value_, d, static_cast<int>(o)); }
    T fetch_and(T d, MemOrder o) { return __atomic_fetch_and(&value_, d, static_cast<int>(o)); }

  private:
    T value_;
};

} // namespace virtue
