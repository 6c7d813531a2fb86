// Native calls on time and waiting: system_time, sleep_until, timers
// (create, set, cancel) and wait_any.
#include "native_handlers.hpp"
#include "time/clock.hpp"

namespace virtue::native {

CallResult call_system_time() { return system_time_ns(); }

CallResult call_sleep_until(uint64_t deadline_ns) {
    // Nothing wakes a sleeper but its deadline, a suspend or death; a
    // stray Signaled (a wake meant for an earlier wait) just sleeps again.
    for (;;) {
        sched_prepare_wait();
        WakeReason why = sched_block(deadline_ns);
        if (why == WakeReason::Timeout) return 0;
        if (why == WakeReason::Interrupted) return Err::Interrupted;
    }
}

CallResult call_timer_create() {
    NewHandle h(caller_handles());
    TRY(h.status());
    auto t = timer_create(caller());
    if (!t) return Err::NoMemory;
    return h.publish((*t)->kobj, kTimerRights);
}

CallResult call_timer_set(TimerRef& timer, uint64_t deadline_ns, uint64_t period_ns) {
    if (!timer_set(*timer, deadline_ns, period_ns)) return Err::InvalidArgument;
    return 0;
}

CallResult call_timer_cancel(TimerRef& timer) {
    timer_cancel(*timer);
    return 0;
}

CallResult call_wait_any(UserSpan<const uint64_t> handles, uint64_t deadline_ns) {
    static_assert(kWaitAnyMax == 16); // native.toml: wait_any's bound
    uint64_t hs[kWaitAnyMax];
    TRY(handles.read_all(hs));
    const uint64_t count = handles.size();
    KObject* objs[kWaitAnyMax];
    Waitable* waits[kWaitAnyMax];
    size_t held = 0;
    Status result = Status::success();
    {
        LockedHandles h = caller_handles();
        IrqLockGuard guard(h.lock);
        for (; held < count; held++) {
            auto q = h.table.query(hs[held]);
            if (!q) {
                result = q.error();
                break;
            }
            ObjType type = q->type;
            if (type != ObjType::Thread && type != ObjType::Timer && type != ObjType::EventChannel) {
                result = Err::WrongType;
                break;
            }
            auto o = h.table.get(hs[held], type, VIRTUE_RIGHT_READ);
            if (!o) {
                result = o.error();
                break;
            }
            objs[held] = *o;
            waits[held] = type == ObjType::Thread  ? &kobject_cast<Thread>(*o).events
                          : type == ObjType::Timer ? &kobject_cast<Timer>(*o).events
                                                   : &evtchn_waitable(kobject_cast<EventPort>(*o));
        }
    }
    int64_t ready = 0;
    if (result) {
        ready = wait_any(waits, count, deadline_ns);
        result = wait_status(ready);
    }
    for (size_t i = 0; i < held; i++) kobject_unref(*objs[i]);
    TRY(result);
    return static_cast<uint64_t>(ready);
}

} // namespace virtue::native
