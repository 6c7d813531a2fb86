// __HYPERVISOR_set_timer_op and __HYPERVISOR_vcpu_op's timer commands: each
// vCPU has a single-shot and a periodic timer, and both raise VIRQ_TIMER on
// that vCPU (the port bound with EVTCHNOP_bind_virq, if any).
//
// A native domain's vCPUs are its boot threads (the `vcpus` of its
// configuration): thread i acts as vCPU i, and a thread it creates acts as
// its creator's vCPU. Times are system time in ns (the native system_time).
// A timer fires on the first scheduler tick at or after its deadline
// (time/timer_object.hpp: 10 ms resolution); a deadline already passed
// raises the virq at once. No periodic timer runs until one is set; a
// periodic timer's first expiry is one period after it is set (Xen keeps
// the phase of the previous period). A dying domain's timers stay stopped
// (Err::NoSuchDomain, -ESRCH).
//
// A PV vCPU also has its runstate (get_runstate_info and a copy in guest
// memory, register_runstate_memory_area, kept at every switch), is_up, and
// register_vcpu_info (its vcpu_info moved into a frame of its memory).
// initialise, up and down: -ENOSYS (not yet).
#include "xen_handlers.hpp"
#include "xen-compat/vcpu_timers.hpp"

#include <xen/vcpu.h>

#include "domain/boot_config.hpp"
#include "event/evtchn.hpp"
#include "mm/memory.hpp"
#include "time/clock.hpp"
#include "time/timer_object.hpp"
#include "xen-compat/op_args.hpp"
#include "xen-compat/pv_domain.hpp"
#include "xen-compat/pv_page_tables.hpp"
#include "arch/tlb.hpp"
#include "arch/paging.hpp"

namespace virtue::xen {

struct VcpuTimers {
    Timer* single[kBootMaxVcpus] = {};
    Timer* periodic[kBootMaxVcpus] = {};
};

namespace {

// Domain::extensions slot of the table (vcpu_timers_init).
uint32_t g_slot;

VcpuTimers* table_of(Domain& d) {
    return static_cast<VcpuTimers*>(__atomic_load_n(&d.extensions[g_slot], __ATOMIC_ACQUIRE));
}

void raise_timer_virq(Timer& t) { evtchn_raise_vcpu_virq(*t.domain, VIRQ_TIMER, t.cookie); }

void free_table(Domain& d, VcpuTimers* ts) {
    // (Destroying a timer takes it off the armed list first, under its lock.)
    for (uint32_t v = 0; v < kBootMaxVcpus; v++) {
        if (ts->single[v]) kobject_unref(ts->single[v]->kobj);
        if (ts->periodic[v]) kobject_unref(ts->periodic[v]->kobj);
    }
    __atomic_fetch_sub(&d.overhead_bytes, heap_footprint(sizeof(VcpuTimers)), __ATOMIC_RELAXED);
    ts->~VcpuTimers();
    (void)heap_free(ts);
}

// d's timers, both kinds for every vCPU, made on first use (two threads
// may race: one table wins).
Result<VcpuTimers*> timers_of(Domain& d) {
    if (VcpuTimers* ts = table_of(d)) return ts;
    auto mem = heap_alloc(sizeof(VcpuTimers));
    if (!mem) return mem.error();
    auto* fresh = new (*mem) VcpuTimers();
    __atomic_fetch_add(&d.overhead_bytes, heap_footprint(sizeof(VcpuTimers)), __ATOMIC_RELAXED);
    for (uint32_t v = 0; v < d.vcpus && v < kBootMaxVcpus; v++)
        for (int kind = 0; kind < 2; kind++) {
            auto t = timer_create(d);
            if (!t) {
                free_table(d, fresh);
                return t.error();
            }
            (*t)->on_expire = raise_timer_virq;
            (*t)->cookie = v;
            (kind ? fresh->periodic : fresh->single)[v] = *t;
        }
    void* seen = nullptr;
    if (__atomic_compare_exchange_n(&d.extensions[g_slot], &seen, static_cast<void*>(fresh), false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fresh;
    free_table(d, fresh);
    return static_cast<VcpuTimers*>(seen);
}

Timer& timer_of(VcpuTimers& ts, uint32_t vcpu, bool periodic) {
    return *(periodic ? ts.periodic[vcpu] : ts.single[vcpu]);
}

// Arms vcpu's single-shot timer for `deadline`, or raises VIRQ_TIMER now
// if it has passed.
Status set_single_shot(Domain& d, uint32_t vcpu, uint64_t deadline) {
    if (d.dying()) return Err::NoSuchDomain; // its timers stay stopped
    auto ts = timers_of(d);
    if (!ts) return Err::NoMemory;
    Timer& t = timer_of(**ts, vcpu, false);
    if (deadline <= system_time_ns()) {
        timer_cancel(t);
        evtchn_raise_vcpu_virq(d, VIRQ_TIMER, vcpu);
        return Status::success();
    }
    return timer_set(t, deadline, 0) ? Status::success() : Status(Err::InvalidArgument);
}

// Stops a timer (none was ever made: nothing runs).
void stop(Domain& d, uint32_t vcpu, bool periodic) {
    if (VcpuTimers* ts = table_of(d)) timer_cancel(timer_of(*ts, vcpu, periodic));
}

} // namespace

Status vcpu_start_periodic_timer(Domain& d, uint32_t vcpu, uint64_t period_ns) {
    if (d.dying()) return Err::NoSuchDomain;
    auto ts = timers_of(d);
    if (!ts) return Err::NoMemory;
    return timer_set(timer_of(**ts, vcpu, true), system_time_ns() + period_ns, period_ns) ? Status::success()
                                                                                          : Status(Err::InvalidArgument);
}

CallResult set_timer_op(uint64_t timeout) {
    Thread& self = *current_thread();
    if (timeout == 0) {
        stop(*self.domain, self.xen_vcpu, false);
        return 0;
    }
    // Xen's rule for a timeout that is negative as a signed value or more
    // than 2^50 ns (13 days) ahead: a guest's jiffies wrapped, so it gets a
    // tick in 100 ms instead of one that never comes.
    const uint64_t now = system_time_ns();
    if (static_cast<int64_t>(timeout) < 0 || (timeout > now && ((timeout - now) >> 50) != 0))
        timeout = now + 100'000'000;
    TRY(set_single_shot(*self.domain, self.xen_vcpu, timeout));
    return 0;
}

void pv_runstate_switch(Thread& t, PvVcpu& v, bool running) {
    vcpu_runstate_info& r = v.runstate;
    const uint64_t now = system_time_ns();
    if (r.state_entry_time && now > r.state_entry_time && r.state >= 0 && r.state < 4)
        r.time[r.state] += now - r.state_entry_time;
    r.state = running ? RUNSTATE_running
                      : t.state == ThreadState::Blocked ? RUNSTATE_blocked : RUNSTATE_runnable;
    r.state_entry_time = now;
    if (v.runstate_va && v.aspace) (void)pv_write_guest(*t.domain, *v.aspace, v.runstate_va, &r, sizeof r);
}

namespace {
// The commands only PV vCPUs have: their runstate, and whether one is up.
CallResult pv_vcpu_op(Domain& d, PvDomain& pv, uint64_t cmd, uint32_t vcpu, uint64_t arg) {
    PvVcpu* v = vcpu < pv.nr_vcpus ? pv.vcpu[vcpu] : nullptr;
    switch (cmd) {
    case VCPUOP_is_up: return v && v->thread ? 1 : 0;
    case VCPUOP_get_runstate_info: {
        if (!v) return Err::NotFound;
        vcpu_runstate_info r = v->runstate;
        if (v->thread == current_thread() && r.state_entry_time) { // (time in the current state so far)
            const uint64_t now = system_time_ns();
            if (now > r.state_entry_time) r.time[r.state] += now - r.state_entry_time;
            r.state_entry_time = now;
        }
        TRY(copy_to_user(arg, &r, sizeof r));
        return 0;
    }
    case VCPUOP_register_runstate_memory_area: {
        if (!v) return Err::NotFound;
        vcpu_register_runstate_memory_area_t area;
        TRY(copy_from_user(&area, arg, sizeof area));
        v->runstate_va = area.addr.p;
        // Written at once for the calling vCPU, as Xen does (later at every
        // switch); a location it cannot write stays registered, unwritten.
        if (v->thread == current_thread() && v->runstate_va && v->aspace)
            (void)pv_write_guest(d, *v->aspace, v->runstate_va, &v->runstate, sizeof v->runstate);
        return 0;
    }
    case VCPUOP_register_vcpu_info: {
        if (!v) return Err::NotFound;
        vcpu_register_vcpu_info_t info;
        TRY(copy_from_user(&info, arg, sizeof info));
        if (info.offset > PAGE_SIZE - sizeof(vcpu_info) || info.rsvd != 0) return Err::InvalidArgument;
        const Mfn frame(info.mfn);
        // The frame stays the guest's writable memory as long as the
        // domain lives (it can never become a page table), as in Xen.
        {
            PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
            PvMmuEnv env(d);
            pv::PageTables<PvMmuEnv> tables(env);
            TRY(tables.get_page(frame));
            if (Status s = tables.get_type(frame, PageType::Writable); !s) {
                tables.put_page(frame);
                return s.error();
            }
        }
        auto* moved = reinterpret_cast<vcpu_info*>(arch::phys_ptr<uint8_t>(to_phys(frame)) + info.offset);
        {
            IrqLockGuard guard(d.events.lock);
            if (!d.events.moved_vcpu_info || d.events.moved_vcpu_info[vcpu])
                return Err::InvalidArgument; // once per vCPU, as in Xen
            *moved = evtchn_vcpu_info(d.events, vcpu);
            // The guest scans every selector word once: nothing pending is lost.
            moved->evtchn_pending_sel = ~xen_ulong_t{0};
            moved->evtchn_upcall_pending = 1;
            __atomic_store_n(&d.events.moved_vcpu_info[vcpu], moved, __ATOMIC_RELEASE);
        }
        return 0;
    }
    default: return Err::NotSupported;
    }
}
} // namespace

CallResult vcpu_op(uint64_t cmd, uint64_t vcpuid, uint64_t arg) {
    Thread& self = *current_thread();
    Domain& d = *self.domain;
    if (vcpuid >= d.vcpus) return Err::NotFound; // no such vCPU
    const uint32_t vcpu = static_cast<uint32_t>(vcpuid);
    if (PvDomain* pv = pv_domain(d);
        pv && (cmd == VCPUOP_is_up || cmd == VCPUOP_get_runstate_info || cmd == VCPUOP_register_runstate_memory_area ||
               cmd == VCPUOP_register_vcpu_info))
        return pv_vcpu_op(d, *pv, cmd, vcpu, arg);
    switch (cmd) {
    case VCPUOP_set_periodic_timer:
        return with_input<vcpu_set_periodic_timer_t>(arg, [&](vcpu_set_periodic_timer_t& op) -> Status {
            if (op.period_ns < kTimerMinPeriodNs || op.period_ns > INT64_MAX) return Err::InvalidArgument;
            uint64_t first;
            if (__builtin_add_overflow(system_time_ns(), op.period_ns, &first)) return Err::InvalidArgument;
            if (d.dying()) return Err::NoSuchDomain; // its timers stay stopped
            auto ts = timers_of(d);
            if (!ts) return Err::NoMemory;
            Status set = timer_set(timer_of(**ts, vcpu, true), first, op.period_ns);
            return set ? set : Status(Err::InvalidArgument);
        });
    case VCPUOP_stop_periodic_timer:
        stop(d, vcpu, true);
        return 0;
    case VCPUOP_set_singleshot_timer:
        // As in Xen: only a vCPU's own single-shot timer.
        if (vcpu != self.xen_vcpu) return Err::InvalidArgument;
        return with_input<vcpu_set_singleshot_timer_t>(arg, [&](vcpu_set_singleshot_timer_t& op) -> Status {
            // (Other flag bits are ignored, as in Xen.)
            if ((op.flags & VCPU_SSHOTTMR_future) && op.timeout_abs_ns < system_time_ns()) return Err::TimeInPast;
            return set_single_shot(d, vcpu, op.timeout_abs_ns);
        });
    case VCPUOP_stop_singleshot_timer:
        if (vcpu != self.xen_vcpu) return Err::InvalidArgument;
        stop(d, vcpu, false);
        return 0;
    default: return Err::NotSupported;
    }
}

namespace {

void timers_dying(Domain& d) {
    for (uint32_t v = 0; v < d.vcpus && v < kBootMaxVcpus; v++) {
        stop(d, v, false);
        stop(d, v, true);
    }
}

void timers_free(Domain& d) {
    VcpuTimers* ts = table_of(d);
    if (!ts) return;
    d.extensions[g_slot] = nullptr;
    free_table(d, ts);
}

} // namespace

void vcpu_timers_init() { g_slot = domain_register_hooks({.dying = timers_dying, .free = timers_free}); }

} // namespace virtue::xen
