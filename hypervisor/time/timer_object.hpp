// Timer objects of native domains: one-shot or periodic, waited on with
// wait_any (sched/wait.hpp).
//
// Armed timers sit on one list sorted by deadline; every CPU's tick looks at
// its head (a load when nothing is due), so a timer fires on the first tick
// at or after its deadline: resolution is the tick (10 ms). A timer is
// ready while it has expirations nobody has consumed; a wait that reports it
// consumes them all (several missed periods are reported once, and counted
// in `expirations` for timer_read-style queries later).
//
// Lock order: the armed list's lock, then a timer's Waitable lock (or, for
// a Xen vCPU timer's on_expire, an event table's lock), then the
// scheduler's CPU locks.
#pragma once

#include <stdint.h>

#include "cap/handle_table.hpp"
#include "lib/result.hpp"
#include "sched/wait.hpp"

namespace virtue {

struct Domain;

inline constexpr uint64_t kTimerMinPeriodNs = 1'000'000; // 1 ms

struct Timer {
    KObject kobj{ObjType::Timer, 1, nullptr};
    Waitable events;           // ready: expirations > 0
    Domain* domain = nullptr;
    uint64_t deadline_ns = 0;  // next expiry (armed)
    uint64_t period_ns = 0;    // 0: one-shot
    uint64_t expirations = 0;  // not yet consumed (under events.lock)
    bool armed = false;        // on the list (under the list's lock)
    Timer* next = nullptr;
    // Hypervisor-internal timers (no handle, nobody waits): called at each
    // expiry instead of counting it, on a CPU's tick with interrupts off and
    // the armed list's lock held (so timer_cancel waits for a running call).
    void (*on_expire)(Timer&) = nullptr;
    uint32_t cookie = 0;       // on_expire's own use
};

Result<Timer*> timer_create(Domain& d);
// (Re-)arms: first expiry at deadline_ns (in the past: the next tick), then
// every period_ns if it is not 0. Drops unconsumed expirations.
// Err::InvalidArgument for a period below kTimerMinPeriodNs (other than 0).
Status timer_set(Timer& t, uint64_t deadline_ns, uint64_t period_ns);
// Disarms and drops unconsumed expirations (no-op when not armed).
void timer_cancel(Timer& t);

// Fires what is due (every CPU's tick, interrupts off).
void timers_expire(uint64_t now_ns);

} // namespace virtue
