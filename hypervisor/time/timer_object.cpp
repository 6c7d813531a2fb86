// Timer objects (time/timer_object.hpp).
#include "time/timer_object.hpp"

#include "domain/domain.hpp"
#include "mm/memory.hpp"

namespace virtue {
namespace {

SpinLock g_armed_lock{LockRank::TimerList};
Timer* g_armed;                         // sorted by deadline_ns
uint64_t g_next_deadline = UINT64_MAX;  // of g_armed's head: read without the lock

Timer& timer_of(KObject* o) { return kobject_cast<Timer>(o); }

bool timer_ready(Waitable& w, bool consume) {
    Timer& t = *reinterpret_cast<Timer*>(reinterpret_cast<char*>(&w) - offsetof(Timer, events));
    if (!t.expirations) return false;
    if (consume) t.expirations = 0;
    return true;
}

void insert_locked(Timer& t) {
    Timer** p = &g_armed;
    while (*p && (*p)->deadline_ns <= t.deadline_ns) p = &(*p)->next;
    t.next = *p;
    *p = &t;
    t.armed = true;
    __atomic_store_n(&g_next_deadline, g_armed->deadline_ns, __ATOMIC_RELEASE);
}

void remove_locked(Timer& t) {
    if (!t.armed) return;
    for (Timer** p = &g_armed; *p; p = &(*p)->next)
        if (*p == &t) {
            *p = t.next;
            break;
        }
    t.next = nullptr;
    t.armed = false;
    __atomic_store_n(&g_next_deadline, g_armed ? g_armed->deadline_ns : UINT64_MAX, __ATOMIC_RELEASE);
}

void drop_expirations(Timer& t) {
    IrqLockGuard guard(t.events.lock);
    t.expirations = 0;
}

void destroy_timer(KObject* o) {
    Timer& t = timer_of(o);
    {
        IrqLockGuard guard(g_armed_lock);
        remove_locked(t);
    }
    __atomic_fetch_sub(&t.domain->overhead_bytes, heap_footprint(sizeof(Timer)), __ATOMIC_RELAXED);
    t.~Timer();
    (void)heap_free(&t);
}

} // namespace

Result<Timer*> timer_create(Domain& d) {
    auto mem = heap_alloc(sizeof(Timer));
    if (!mem) return mem.error();
    Timer* t = new (*mem) Timer();
    t->domain = &d;
    t->kobj.destroy = destroy_timer;
    t->events.ready = timer_ready;
    __atomic_fetch_add(&d.overhead_bytes, heap_footprint(sizeof(Timer)), __ATOMIC_RELAXED);
    return t;
}

Status timer_set(Timer& t, uint64_t deadline_ns, uint64_t period_ns) {
    if (period_ns && period_ns < kTimerMinPeriodNs) return Err::InvalidArgument;
    IrqLockGuard guard(g_armed_lock);
    remove_locked(t);
    drop_expirations(t);
    t.deadline_ns = deadline_ns;
    t.period_ns = period_ns;
    insert_locked(t);
    return Status::success();
}

void timer_cancel(Timer& t) {
    IrqLockGuard guard(g_armed_lock);
    remove_locked(t);
    drop_expirations(t);
}

void timers_expire(uint64_t now_ns) {
    if (__atomic_load_n(&g_next_deadline, __ATOMIC_ACQUIRE) > now_ns) return;
    TryLockGuard list(g_armed_lock);
    if (!list) return; // another CPU is at it
    while (g_armed && g_armed->deadline_ns <= now_ns) {
        Timer& t = *g_armed;
        remove_locked(t);
        if (t.on_expire) {
            t.on_expire(t);
        } else {
            IrqLockGuard guard(t.events.lock);
            t.expirations++;
            t.events.wake_all_locked();
        }
        if (t.period_ns) {
            // Periods missed while ticks were late are skipped (and counted
            // once): the timer stays in phase with its first deadline.
            uint64_t behind = (now_ns - t.deadline_ns) / t.period_ns + 1;
            uint64_t step, next;
            if (!__builtin_mul_overflow(behind, t.period_ns, &step) &&
                !__builtin_add_overflow(t.deadline_ns, step, &next)) {
                t.deadline_ns = next;
                insert_locked(t);
            } // else: the next expiry is beyond the end of time

        }
    }
}

} // namespace virtue
