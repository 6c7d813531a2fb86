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
// register_vcpu_info (its vcpu_info moved into a frame of its memory),
// initialise and up (a vCPU brought up by its guest). down: -ENOSYS.
#include "xen_handlers.hpp"
#include "xen-compat/vcpu_timers.hpp"

#include <xen/sched.h>
#include <xen/vcpu.h>

#include <initializer_list>

#include "domain/boot_config.hpp"
#include "event/evtchn.hpp"
#include "mm/memory.hpp"
#include "time/clock.hpp"
#include "time/timer_object.hpp"
#include "xen-compat/op_args.hpp"
#include "xen-compat/pv_domain.hpp"
#include "xen-compat/pv_page_tables.hpp"
#include "xen-compat/pv_gdt.hpp"
#include "arch/pte.hpp"
#include "arch/user_entry.hpp"
#include "domain/fault.hpp"
#include "domain/thread.hpp"
#include "sched/scheduler.hpp"
#include "vm/address_space.hpp"
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
    if (!v.runstate_va || !v.aspace) return;
    Domain& d = *t.domain;
    const PvDomain* pv = pv_domain(d);
    if (pv && (pv->vm_assist & (1ull << VMASST_TYPE_runstate_update_flag))) {
        // The guest asked to see when the copy is being written: the entry
        // time carries XEN_RUNSTATE_UPDATE first, and last loses it.
        const uint64_t va = v.runstate_va + offsetof(vcpu_runstate_info, state_entry_time);
        const uint64_t updating = now | XEN_RUNSTATE_UPDATE;
        if (!pv_write_guest(d, *v.aspace, va, &updating, sizeof updating)) return;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        vcpu_runstate_info copy = r;
        copy.state_entry_time = updating;
        (void)pv_write_guest(d, *v.aspace, v.runstate_va, &copy, sizeof copy);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        (void)pv_write_guest(d, *v.aspace, va, &now, sizeof now);
        return;
    }
    (void)pv_write_guest(d, *v.aspace, v.runstate_va, &r, sizeof r);
}

namespace {
// VCPUOP_initialise: vCPU `vcpu` gets its state from the guest's
// vcpu_guest_context at `arg` (its kernel L4, registers, trap table,
// callbacks, kernel stack, GDT and segment bases) and a thread that starts
// in guest kernel mode at VCPUOP_up. Checked as the calls that set each
// part are (set_trap_table, set_gdt, ...); the FPU state, debug registers
// and an LDT are not taken (an LDT is refused). Nothing is kept on failure.
Status initialise_vcpu(Domain& d, PvDomain& pv, PvVcpu& v, uint32_t vcpu, uint64_t arg) {
    using Ctx = vcpu_guest_context_t;
    auto field = [&](size_t offset, void* out, size_t size) { return copy_from_user(out, arg + offset, size); };
    uint64_t flags, ldt_ents, gdt_ents, kernel_ss, kernel_sp, cr1, cr3, event_cb, failsafe_cb, syscall_cb, fs, gs_k, gs_u;
    uint64_t gdt_frames[16];
    cpu_user_regs regs;
    TRY(field(offsetof(Ctx, flags), &flags, 8));
    TRY(field(offsetof(Ctx, user_regs), &regs, sizeof regs));
    TRY(field(offsetof(Ctx, ldt_ents), &ldt_ents, 8));
    TRY(field(offsetof(Ctx, gdt_frames), gdt_frames, sizeof gdt_frames));
    TRY(field(offsetof(Ctx, gdt_ents), &gdt_ents, 8));
    TRY(field(offsetof(Ctx, kernel_ss), &kernel_ss, 8));
    TRY(field(offsetof(Ctx, kernel_sp), &kernel_sp, 8));
    TRY(field(offsetof(Ctx, ctrlreg) + 8, &cr1, 8));
    TRY(field(offsetof(Ctx, ctrlreg) + 24, &cr3, 8));
    TRY(field(offsetof(Ctx, event_callback_eip), &event_cb, 8));
    TRY(field(offsetof(Ctx, failsafe_callback_eip), &failsafe_cb, 8));
    TRY(field(offsetof(Ctx, syscall_callback_eip), &syscall_cb, 8));
    TRY(field(offsetof(Ctx, fs_base), &fs, 8));
    TRY(field(offsetof(Ctx, gs_base_kernel), &gs_k, 8));
    TRY(field(offsetof(Ctx, gs_base_user), &gs_u, 8));
    trap_info traps[256];
    TRY(field(offsetof(Ctx, trap_ctxt), traps, sizeof traps));
    auto guest_address = [](uint64_t a) {
        return is_canonical(a) && !(a >= 0xffff800000000000ull && a < arch::PV_GUEST_UPPER_START);
    };
    // Only guest kernel mode, addresses the guest may use; the code and
    // stack selectors with RPL 0 (as Linux gives its own) raised to 3, as
    // Xen does, and checked against the new GDT below.
    if (!(flags & VGCF_in_kernel) || ldt_ents != 0 || gdt_ents > arch::GUEST_GDT_ENTRIES) return Err::InvalidArgument;
    regs.cs = static_cast<uint16_t>(pv_guest_rpl(regs.cs));
    regs.ss = static_cast<uint16_t>(pv_guest_rpl(regs.ss));
    kernel_ss = pv_guest_rpl(kernel_ss);
    for (uint64_t a : {regs.rip, regs.rsp, kernel_sp, event_cb, failsafe_cb, syscall_cb, fs, gs_k, gs_u})
        if (!guest_address(a)) return Err::InvalidArgument;
    for (const trap_info& ti : traps)
        if (ti.address && !guest_address(ti.address)) return Err::InvalidArgument;
    const Mfn l4(cr3 >> 12), user_l4(cr1 >> 12);
    // The L4s: a type use each while they are this vCPU's base pointers.
    {
        PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
        PvMmuEnv env(d);
        pv::PageTables<PvMmuEnv> tables(env);
        TRY(tables.get_page_and_type(l4, PageType::L4));
        if (user_l4.raw()) {
            if (Status s = tables.get_page_and_type(user_l4, PageType::L4); !s) {
                tables.put_page_and_type(l4);
                return s;
            }
        }
    }
    auto drop_l4s = [&] {
        PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
        PvMmuEnv env(d);
        pv::PageTables<PvMmuEnv> tables(env);
        for (Mfn m : {l4, user_l4})
            if (m.raw()) tables.put_page_and_type(m);
    };
    if (Status s = pv_take_gdt(d, v, gdt_frames, gdt_ents, false); !s) {
        drop_l4s();
        return s;
    }
    if (!pv_initial_selectors_ok(v, regs.cs, regs.ss)) {
        (void)pv_take_gdt(d, v, gdt_frames, 0, false);
        drop_l4s();
        return Err::InvalidArgument;
    }
    auto as = aspace_create_guest(d, to_phys(l4));
    if (!as) {
        drop_l4s();
        return as.error();
    }
    auto t = thread_create(d, **as, regs.rip, regs.rsp, regs.rdi, regs.rsi, regs.rdx);
    if (!t) {
        kobject_unref((*as)->kobj);
        drop_l4s();
        return t.error();
    }
    arch::InterruptFrame& f = (*t)->user_frame();
    f.rax = regs.rax;
    f.rbx = regs.rbx;
    f.rcx = regs.rcx;
    f.rbp = regs.rbp;
    f.r8 = regs.r8;
    f.r9 = regs.r9;
    f.r10 = regs.r10;
    f.r11 = regs.r11;
    f.r12 = regs.r12;
    f.r13 = regs.r13;
    f.r14 = regs.r14;
    f.r15 = regs.r15;
    // The guest's arithmetic and direction flags; interrupts stay on (its
    // event mask is its own interrupt flag).
    f.rflags = (regs.rflags & 0xcd5) | 0x202;
    f.cs = regs.cs;
    f.ss = regs.ss;
    // Its data selectors load when it is first switched in (pv_gdt.cpp;
    // one that does not goes to its failsafe callback).
    v.selectors = arch::DataSelectors{regs.ds, regs.es, regs.fs, regs.gs};
    (*t)->guest_mode = GuestMode::PvKernel;
    (*t)->xen_vcpu = vcpu;
    (*t)->switch_ops = &pv_switch_ops();
    (*t)->fs_base = fs;
    (*t)->gs_base = gs_k;
    v.aspace = *as;
    v.base.kernel_l4 = l4.raw();
    v.base.user_l4 = user_l4.raw();
    for (unsigned i = 0; i < 256; i++) v.traps[i] = trap_info{};
    for (const trap_info& ti : traps)
        if (ti.address) v.traps[ti.vector] = ti;
    v.kernel_ss = kernel_ss;
    v.kernel_sp = kernel_sp;
    v.event_callback = event_cb;
    v.failsafe_callback = failsafe_cb;
    v.syscall_callback = syscall_cb;
    v.syscall_masks_events = (flags & VGCF_syscall_disables_events) != 0;
    v.failsafe_masks_events = (flags & VGCF_failsafe_disables_events) != 0;
    v.gs_kernel = gs_k;
    v.gs_user = gs_u;
    v.thread = *t; // (the creator's reference: kept, as vCPU 0's)
    (*t)->personality = &v;
    (void)pv; // (the vCPU slots are made at build)
    // Every PV vCPU runs Xen's default periodic timer.
    (void)vcpu_start_periodic_timer(d, vcpu, 10'000'000);
    return Status::success();
}

// Whether vCPU v runs: started, and not brought down since.
bool is_up(const PvVcpu* v) {
    return v && v->thread && v->thread->started && !__atomic_load_n(&v->down, __ATOMIC_ACQUIRE);
}

// VCPUOP_down, asynchronous as in Xen: the vCPU's thread is asked to stop
// on its way to the guest (its call, or its block, ends first); the
// caller does not wait for it.
void bring_down(PvVcpu& v) {
    Thread& t = *v.thread;
    __atomic_store_n(&v.down, true, __ATOMIC_RELEASE);
    {
        IrqLockGuard guard(t.events.lock);
        if (t.exited) return;
        __atomic_store_n(&t.suspend_requested, true, __ATOMIC_RELEASE);
        if (t.stopped) return;
    }
    sched_interrupt(t); // (the caller itself stops on its way out of this call)
}

// VCPUOP_up of a vCPU that was brought down: it runs on where it stopped.
void bring_up(PvVcpu& v) {
    if (!__atomic_exchange_n(&v.down, false, __ATOMIC_ACQ_REL)) return;
    auto verdict = fault_release_thread(*v.thread, [](Thread& th, void*) -> Result<Release> {
        return th.exited ? Release::Nothing : Release::Go;
    }, nullptr);
    if (verdict && *verdict == Release::Go) sched_resume(*v.thread);
}

// The commands only PV vCPUs have: their runstate, and whether one is up.
CallResult pv_vcpu_op(Domain& d, PvDomain& pv, uint64_t cmd, uint32_t vcpu, uint64_t arg) {
    PvVcpu* v = vcpu < pv.nr_vcpus ? pv.vcpu[vcpu] : nullptr;
    switch (cmd) {
    case VCPUOP_is_up: return is_up(v) ? 1 : 0;
    case VCPUOP_down: {
        if (!v) return Err::NotFound;
        // The last vCPU going down powers the domain off, as in Xen.
        bool others = false;
        for (uint32_t u = 0; u < pv.nr_vcpus; u++) others = others || (u != vcpu && is_up(pv.vcpu[u]));
        if (!others) {
            domain_kill(d, SHUTDOWN_poweroff, "shut down (poweroff)");
            return 0;
        }
        if (!is_up(v)) return 0;
        bring_down(*v);
        return 0;
    }
    case VCPUOP_initialise: {
        if (!v) return Err::NotFound;
        if (v->thread) return Err::Exists;
        TRY(initialise_vcpu(d, pv, *v, vcpu, arg));
        return 0;
    }
    case VCPUOP_up: {
        if (!v || !v->thread) return Err::InvalidArgument; // (not initialised)
        if (!v->thread->started) {
            TRY(thread_start(*v->thread, vcpu));
            return 0;
        }
        bring_up(*v);
        return 0;
    }
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
        if (!d.events.moved_vcpu_info || __atomic_load_n(&d.events.moved_vcpu_info[vcpu], __ATOMIC_ACQUIRE))
            return Err::InvalidArgument; // once per vCPU, as in Xen (checked again below)
        // The frame stays the guest's writable memory as long as the
        // domain lives (it can never become a page table), as in Xen.
        TRY(pv_hold_writable(d, frame));
        auto* moved = reinterpret_cast<vcpu_info*>(arch::phys_ptr<uint8_t>(to_phys(frame)) + info.offset);
        bool lost = false;
        {
            IrqLockGuard guard(d.events.lock);
            lost = !d.events.moved_vcpu_info || d.events.moved_vcpu_info[vcpu];
            if (!lost) {
                *moved = evtchn_vcpu_info(d.events, vcpu);
                // The guest scans every selector word once: nothing pending is lost.
                moved->evtchn_pending_sel = ~xen_ulong_t{0};
                moved->evtchn_upcall_pending = 1;
                __atomic_store_n(&d.events.moved_vcpu_info[vcpu], moved, __ATOMIC_RELEASE);
            }
        }
        if (lost) { // (another call registered it meanwhile: once per vCPU, as in Xen)
            pv_drop_writable(d, frame);
            return Err::InvalidArgument;
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
               cmd == VCPUOP_register_vcpu_info || cmd == VCPUOP_initialise || cmd == VCPUOP_up || cmd == VCPUOP_down))
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
