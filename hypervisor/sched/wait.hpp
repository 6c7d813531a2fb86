// Waiting for kernel objects: wait queues and the wait-for-any loop.
//
// A Waitable is the part of an object a thread can wait on (a thread's exit
// or stop, a timer's expiry, an event-channel port, an endpoint's queue, an
// IPC call's reply). It has a
// lock that guards the object's "ready" state and a list of waiters. The
// rule that keeps wake-ups from getting lost:
//
//   waiter: sched_prepare_wait(); lock; check ready; else enlist; unlock;
//           sched_block(deadline); re-check (still enlisted) ...
//   waker:  lock; make ready; wake every enlisted waiter; unlock.
//
// A wake that comes between the waiter's unlock and its sched_block leaves
// the thread's wake_pending set, and sched_block returns at once.
//
// Lock order: Waitable::lock before the scheduler's per-CPU locks (waking
// takes the waiter's CPU lock). Never two Waitable locks at once.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"
#include "lib/spinlock.hpp"

namespace virtue {

struct Thread;

// A thread's entry on one Waitable's list (lives on the waiter's stack).
struct Waiter {
    Thread* thread = nullptr;
    Waiter* next = nullptr;
    Waiter* prev = nullptr;
    bool enlisted = false;
};

struct Waitable {
    SpinLock lock{LockRank::Waitable};
    Waiter* waiters = nullptr;
    // Reports (under lock) whether the object is ready; when it is and
    // `consume` is set, takes the readiness (a timer's expiry) so that the
    // next wait blocks again.
    bool (*ready)(Waitable& w, bool consume) = nullptr;

    void enlist_locked(Waiter& w);
    void delist_locked(Waiter& w);
    // Wakes every enlisted waiter (they re-check and delist themselves).
    void wake_all_locked();
};

inline constexpr uint64_t kNoDeadline = UINT64_MAX;
inline constexpr size_t kWaitAnyMax = 16;

// Outcome of wait_any (>= 0: the index of the ready object).
inline constexpr int64_t kWaitTimedOut = -1;
inline constexpr int64_t kWaitInterrupted = -2; // suspend, or the domain is dying

// The Err for a failed wait's result: Err::TimedOut or Err::Interrupted.
inline Err wait_error(int64_t r) { return r == kWaitTimedOut ? Err::TimedOut : Err::Interrupted; }

// Blocks the running thread until one of objs[0..n) is ready (n <= 16),
// consuming that one's readiness, or until the system time reaches
// deadline_ns (kNoDeadline: never; a deadline in the past polls once).
// Returns the lowest ready index, kWaitTimedOut or kWaitInterrupted.
int64_t wait_any(Waitable* const* objs, size_t n, uint64_t deadline_ns);

// One object, any condition: blocks until pred() (evaluated under w.lock)
// holds (0), or the deadline passes (kWaitTimedOut) or the thread is
// interrupted (kWaitInterrupted).
int64_t wait_until(Waitable& w, uint64_t deadline_ns, bool (*pred)(Waitable& w, void* ctx), void* ctx);

// wait_until that also wakes `handoff` (a thread the caller holds a handoff
// reference to, sched_handoff_ref, and has made ready to run): if the
// caller blocks, its CPU goes straight to handoff when possible
// (sched_block_handoff); if it does not block, handoff is woken normally.
// Either way handoff is woken once and the reference is consumed.
int64_t wait_until_handoff(Waitable& w, uint64_t deadline_ns, bool (*pred)(Waitable& w, void* ctx), void* ctx,
                           Thread* handoff);

} // namespace virtue
