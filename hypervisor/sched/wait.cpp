// Wait queues and wait-for-any (protocol in sched/wait.hpp).
#include "sched/wait.hpp"

#include "domain/thread.hpp"
#include "sched/scheduler.hpp"

namespace virtue {

[[gnu::hot]] void Waitable::enlist_locked(Waiter& w) {
    w.prev = nullptr;
    w.next = waiters;
    if (waiters) waiters->prev = &w;
    waiters = &w;
    w.enlisted = true;
}

[[gnu::hot]] void Waitable::delist_locked(Waiter& w) {
    if (!w.enlisted) return;
    if (w.prev) w.prev->next = w.next;
    else waiters = w.next;
    if (w.next) w.next->prev = w.prev;
    w.next = w.prev = nullptr;
    w.enlisted = false;
}

[[gnu::hot]] void Waitable::wake_all_locked() {
    for (Waiter* w = waiters; w; w = w->next) sched_wake(*w->thread);
}

[[gnu::hot]] int64_t wait_any(Waitable* const* objs, size_t n, uint64_t deadline_ns) {
    if (n > kWaitAnyMax) return kWaitInterrupted;
    Waiter waiters[kWaitAnyMax];
    Thread* self = current_thread();
    int64_t result = kWaitTimedOut;
    for (;;) {
        sched_prepare_wait();
        // Check every object, enlisting where not yet enlisted: a wake
        // after an object's check is remembered (wake_pending).
        for (size_t i = 0; i < n && result < 0; i++) {
            Waitable& w = *objs[i];
            IrqLockGuard guard(w.lock);
            if (w.ready(w, true)) {
                result = static_cast<int64_t>(i);
                break;
            }
            if (!waiters[i].enlisted) {
                waiters[i].thread = self;
                w.enlist_locked(waiters[i]);
            }
        }
        if (result >= 0) break;
        WakeReason why = sched_block(deadline_ns);
        if (why == WakeReason::Timeout) {
            result = kWaitTimedOut;
            break;
        }
        if (why == WakeReason::Interrupted) {
            result = kWaitInterrupted;
            break;
        }
        result = kWaitTimedOut; // woken: look again
    }
    for (size_t i = 0; i < n; i++) {
        if (!waiters[i].enlisted) continue;
        IrqLockGuard guard(objs[i]->lock);
        objs[i]->delist_locked(waiters[i]);
    }
    return result;
}

[[gnu::hot]] int64_t wait_until(Waitable& w, uint64_t deadline_ns, bool (*pred)(Waitable& w, void* ctx), void* ctx) {
    return wait_until_handoff(w, deadline_ns, pred, ctx, nullptr);
}

[[gnu::hot]] int64_t wait_until_handoff(Waitable& w, uint64_t deadline_ns, bool (*pred)(Waitable& w, void* ctx), void* ctx,
                           Thread* handoff) {
    Waiter me;
    me.thread = current_thread();
    int64_t result = 0;
    for (;;) {
        sched_prepare_wait();
        {
            IrqLockGuard guard(w.lock);
            if (pred(w, ctx)) {
                w.delist_locked(me);
                break;
            }
            if (!me.enlisted) w.enlist_locked(me);
        }
        WakeReason why;
        if (handoff) {
            why = sched_block_handoff(*handoff, deadline_ns);
            handoff = nullptr;
        } else {
            why = sched_block(deadline_ns);
        }
        if (why == WakeReason::Timeout) result = kWaitTimedOut;
        if (why == WakeReason::Interrupted) result = kWaitInterrupted;
        if (result) break;
    }
    if (handoff) { // never blocked: wake it the ordinary way
        sched_wake(*handoff);
        sched_handoff_release(*handoff);
    }
    if (me.enlisted) {
        IrqLockGuard guard(w.lock);
        w.delist_locked(me);
    }
    return result;
}

} // namespace virtue
