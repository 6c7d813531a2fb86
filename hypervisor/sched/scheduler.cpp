// Per-CPU scheduling: run queues, sleep lists, context switches, ticks.
//
// Locking: each CPU's CpuSched::lock protects its run queue, its sleep list
// and the state of the threads on them. A switch holds the outgoing CPU's
// lock across switch_context and the incoming side releases it
// (finish_switch), so a thread is never visible in a queue before its
// registers are saved. Stealing only try-locks other CPUs' queues (no lock
// order to break). Credit accounting has its own lock (g_account_lock),
// taken before the domain registry's. Everything runs with interrupts off.
#include "sched/scheduler.hpp"

#include <stddef.h>

#include "arch/apic.hpp"
#include "arch/cpu.hpp"
#include "arch/paging.hpp"
#include "arch/percpu.hpp"
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "core/cmdline.hpp"
#include "core/panic.hpp"
#include "core/shutdown.hpp"
#include "domain/domain.hpp"
#include "ipc/endpoint.hpp"
#include "lib/format.hpp"
#include "mm/memory.hpp"
#include "time/clock.hpp"
#include "time/timer_object.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

bool opt_shutdown_when_done = false;
VIRTUE_BOOLEAN_PARAM("shutdown-when-done", opt_shutdown_when_done);

struct CpuSched {
    SpinLock lock{LockRank::CpuQueue};
    sched::RunQueue rq;
    Thread* current = nullptr;    // nullptr: the idle context runs
    Thread idle;                  // the idle context's saved stack pointer
    Thread* sleepers = nullptr;   // sorted by wake_at_ns
    Thread* to_release = nullptr; // exited thread: reap it after the switch
    Thread* to_migrate = nullptr; // switched out to move to its pinned CPU (queued after the switch)
    Thread* handoff_drop = nullptr; // the incoming thread's handoff reference (released after the switch)
    uint64_t handoffs = 0;          // direct switches of sched_block_handoff (reported at the end)
    AddressSpace* loaded = nullptr; // whose root is in CR3 (nullptr: the hypervisor's)
    uint64_t last_charge_tsc = 0;
    uint64_t slice_start_ns = 0;
    bool need_resched = false;
    bool teardown_due = false; // a tick found a dead domain's teardown pending: one step on the way out
    uint64_t user_gs = 0;      // the ring-3 GS base in KERNEL_GS_BASE now
};

CpuSched g_sched[MAX_CPUS];
SpinLock g_account_lock{LockRank::SchedAccount};
uint64_t g_last_refill_ns;

CpuSched& mine() { return g_sched[arch::cpu_index()]; }
uint32_t index_of(const CpuSched& cs) { return static_cast<uint32_t>(&cs - g_sched); }

Thread* thread_of(sched::Entity* e) {
    return e ? reinterpret_cast<Thread*>(reinterpret_cast<char*>(e) - offsetof(Thread, entity)) : nullptr;
}

[[gnu::hot]] void adjust_runnable(Thread& t, int delta) {
    IrqLockGuard guard(g_account_lock);
    t.domain->account.runnable += delta;
    if (delta > 0) t.domain->account.active = true;
}

[[gnu::hot]] void charge_current(CpuSched& cs) {
    uint64_t now = arch::rdtsc();
    uint64_t ns = tsc_to_ns(now - cs.last_charge_tsc);
    cs.last_charge_tsc = now;
    if (!cs.current) return;
    IrqLockGuard guard(g_account_lock);
    sched::charge(cs.current->domain->account, ns, kPeriodNs);
}

// Hands out the credit of the time since the last refill: normally one
// period, more when ticks came late (e.g. a loaded host delaying the guest),
// so that credit always matches the CPU time that was there to charge.
void refill_all(uint64_t elapsed_ns) {
    IrqLockGuard guard(g_account_lock);
    domain_refill_accounts(
        [](sched::ShareAccount* const* accounts, size_t n, void* ctx) {
            sched::refill(accounts, n, *static_cast<uint64_t*>(ctx), arch::cpus_online());
        },
        &elapsed_ns);
}

// The rule that makes "lock g_sched[t.cpu], then check t.cpu is unchanged"
// a valid way to own a thread's scheduling state: t.cpu only changes under
// the lock of the CPU it names before the change.
[[gnu::hot]] void enqueue_locked(CpuSched& cs, Thread& t) {
    t.state = ThreadState::Runnable;
    t.cpu = index_of(cs);
    if (Status s = cs.rq.enqueue(t.entity); !s) panic("run queue: thread already queued (%s)", err_name(s.error()));
}

// An idle CPU halts until its next tick; work queued for it from elsewhere
// sends it an IPI so that it looks now.
[[gnu::hot]] void kick_if_idle(CpuSched& cs) {
    uint32_t c = index_of(cs);
    if (cs.current == nullptr && c != arch::cpu_index())
        arch::lapic_send_ipi(arch::g_percpu[c].apic_id, arch::VECTOR_RESCHEDULE);
}

// Runs fn(cs) with the lock of the CPU that owns t's scheduling state.
template <typename Fn> [[gnu::hot]] void with_thread_cpu(Thread& t, Fn fn) {
    for (;;) {
        uint32_t c = __atomic_load_n(&t.cpu, __ATOMIC_ACQUIRE);
        CpuSched& cs = g_sched[c];
        IrqLockGuard guard(cs.lock);
        if (t.cpu != c) continue; // moved meanwhile; its new CPU's lock decides
        fn(cs);
        return;
    }
}

[[gnu::hot]] void remove_sleeper_locked(CpuSched& cs, Thread& t) {
    for (Thread** p = &cs.sleepers; *p; p = &(*p)->sleep_next)
        if (*p == &t) {
            *p = t.sleep_next;
            break;
        }
    t.sleep_next = nullptr;
    t.has_deadline = false;
}

// Blocked -> Runnable on the CPU it blocked on.
[[gnu::hot]] void unblock_locked(CpuSched& cs, Thread& t, WakeReason why) {
    if (t.has_deadline) remove_sleeper_locked(cs, t);
    t.wake_reason = why;
    adjust_runnable(t, +1);
    enqueue_locked(cs, t);
    kick_if_idle(cs);
}

// Takes an "under" thread (or any thread when we would otherwise idle) from
// another CPU. Try-locks only: the caller holds its own queue's lock.
Thread* steal(uint32_t me, bool only_under) {
    uint32_t n = arch::cpus_online();
    for (uint32_t k = 1; k < n; k++) {
        CpuSched& other = g_sched[(me + k) % n];
        if (!other.rq.size()) continue;
        TryLockGuard guard(other.lock);
        if (!guard) continue;
        Thread* t = thread_of(other.rq.steal(me, only_under));
        if (t) t->cpu = me; // under the victim's lock (see enqueue_locked)
        if (t) return t;
    }
    return nullptr;
}

[[gnu::hot]] Thread* pick_next_locked(CpuSched& cs) {
    Thread* next = thread_of(cs.rq.pick());
    if (!next || next->entity.account->priority() == sched::Priority::Over) {
        uint32_t me = index_of(cs);
        if (Thread* s = steal(me, next != nullptr)) {
            if (next) enqueue_locked(cs, *next);
            next = s;
        }
    }
    return next;
}

[[gnu::hot]] void finish_switch() {
    CpuSched& cs = mine();
    // A thread switched back in inside a call (it blocked) holds this CPU
    // again from now: the time it was away is not a hold.
    if (g_hypercall_hold_stats) hypercall_hold_switch_in(cs.current);
    Thread* gone = cs.to_release;
    Thread* moving = cs.to_migrate;
    Thread* handed = cs.handoff_drop;
    cs.to_release = nullptr;
    cs.to_migrate = nullptr;
    cs.handoff_drop = nullptr;
    {
        UniqueLock taken(cs.lock, kAdoptLock); // handed over by the switching side
    }
    // The thread now running here held a run reference all along: this
    // drop is never its (or its domain's) last.
    if (handed) sched_handoff_release(*handed);
    if (moving) {
        // moving->cpu already names the destination (set under our lock).
        CpuSched& dest = g_sched[moving->cpu];
        IrqLockGuard guard(dest.lock);
        enqueue_locked(dest, *moving);
        kick_if_idle(dest);
    }
    if (gone) thread_reap(*gone);
}

// Loads an address space (nullptr: the hypervisor's tables). Its CPU bit is
// set before CR3 is loaded and the old one's cleared after (arch/tlb.hpp):
// a shootdown that misses this CPU's bit can only come after the load, when
// the CPU already walks the edited tables.
[[gnu::hot]] void load_address_space(CpuSched& cs, AddressSpace* to) {
    if (to == cs.loaded) return;
    const uint64_t bit = uint64_t{1} << index_of(cs);
    // Seq_cst: pairs with the shootdown's fence between its page-table
    // writes and its read of active_cpus (arch::tlb_shootdown).
    if (to) to->active_cpus.fetch_or(bit, MemOrder::SeqCst);
    arch::load_root(to ? to->root : arch::kernel_root());
    if (cs.loaded) cs.loaded->active_cpus.fetch_and(~bit, MemOrder::SeqCst);
    cs.loaded = to;
}

// Switches from the running context to next (nullptr = idle). Called with
// cs.lock held (handed over: the incoming side releases it); returns (lock
// released) when prev runs again.
[[gnu::hot]] void switch_locked(CpuSched& cs, Thread* prev, Thread* next) {
    Thread* from = prev ? prev : &cs.idle;
    Thread* to = next ? next : &cs.idle;
    cs.current = next;
    arch::set_current_thread_slot(next);
    cs.slice_start_ns = system_time_ns();
    cs.need_resched = false;
    if (next) {
        next->state = ThreadState::Running;
        next->cpu = index_of(cs);
        arch::set_kernel_stack(next->kernel_stack.top);
    }
    if (prev && prev->switch_ops) prev->switch_ops->out(*prev);
    if (prev && prev->fpu_trap) arch::clts(); // (its fxsave must not fault)
    if (prev && prev->state != ThreadState::Dead) arch::fpu_save(prev->fpu);
    if (next) {
        arch::fpu_restore(next->fpu);
        if (next->fpu_trap) arch::stts();
        arch::set_fs_base(next->fs_base);
        if (next->gs_base != cs.user_gs) { // (0 for every native thread: rarely written)
            arch::set_user_gs_base(next->gs_base);
            cs.user_gs = next->gs_base;
        }
    }
    load_address_space(cs, next ? next->aspace : nullptr);
    if (next && next->switch_ops) next->switch_ops->in(*next);
    lock_ranks_check_switch(&cs.lock); // debug builds: no other lock crosses a switch
    if (g_hypercall_hold_stats) hypercall_hold_switch_out(prev);
    switch_context(&from->kernel_rsp, to->kernel_rsp);
    finish_switch();
}

[[gnu::hot]] void schedule() {
    CpuSched& cs = mine();
    Thread* prev = cs.current;
    charge_current(cs);
    UniqueLock queue(cs.lock);
    if (prev && prev->state == ThreadState::Running) enqueue_locked(cs, *prev);
    Thread* next = pick_next_locked(cs);
    if (next == prev) {
        if (prev) prev->state = ThreadState::Running;
        cs.slice_start_ns = system_time_ns();
        cs.need_resched = false;
        return;
    }
    queue.hand_over();
    switch_locked(cs, prev, next);
}

void wake_sleepers_locked(CpuSched& cs, uint64_t now) {
    while (cs.sleepers && cs.sleepers->wake_at_ns <= now) unblock_locked(cs, *cs.sleepers, WakeReason::Timeout);
}

// On the way to ring 3 with a suspend request: stop here until resumed.
// The request is checked and `stopped` published under the thread's events
// lock (every change of suspend_requested is made under it), and the CPU
// lock is taken before that lock is dropped: a resume (which clears the
// request under the events lock, then takes the CPU lock) either comes
// before the check, and the thread goes on, or finds it Suspended.
// `stopped` is published first because its waiters may read the registers
// at once (they are final); the wake happens before the CPU lock is taken
// (waking may need this CPU's lock).
void stop_current(Thread& t) {
    CpuSched& cs = mine();
    UniqueLock events(t.events.lock);
    if (!t.suspend_requested || t.domain->dying()) return;
    t.stopped = true;
    t.events.wake_all_locked();
    charge_current(cs);
    UniqueLock queue(cs.lock);
    events.unlock();
    if (t.domain->dying()) {
        // domain_kill came between the checks: leave instead of stopping
        // (not stopped: its registers are about to change).
        queue.unlock();
        IrqLockGuard guard(t.events.lock);
        t.stopped = false;
        return;
    }
    adjust_runnable(t, -1);
    t.state = ThreadState::Suspended;
    queue.hand_over();
    switch_locked(cs, &t, pick_next_locked(cs));
}

// The running thread is pinned to another CPU: switch away and let
// finish_switch queue it there.
void migrate_current(Thread& t, uint32_t dest) {
    CpuSched& cs = mine();
    charge_current(cs);
    UniqueLock queue(cs.lock);
    t.state = ThreadState::Runnable;
    t.cpu = dest; // under the lock of the CPU it named (see enqueue_locked)
    cs.to_migrate = &t;
    queue.hand_over();
    switch_locked(cs, &t, pick_next_locked(cs));
}

} // namespace

// A new thread's first instructions (arch entry.S: thread_first_entry).
extern "C" void sched_thread_first_run() {
    finish_switch();
    Thread* t = current_thread();
    // Requests that came before it first ran (kill, suspend, a pin to
    // another CPU, a dying domain) are honoured before its first instruction.
    user_return_work(t->user_frame());
}

void sched_init_this_cpu() { mine().last_charge_tsc = arch::rdtsc(); }


void sched_start_thread(Thread& t, uint32_t hint) {
    uint32_t n = arch::cpus_online() ? arch::cpus_online() : 1;
    uint32_t pinned = t.entity.affinity_cpu;
    CpuSched& cs = g_sched[pinned != sched::kAnyCpu ? pinned : hint % n];
    adjust_runnable(t, +1);
    // Move it under the lock of the CPU it names now (see enqueue_locked),
    // then queue it (still New: nobody acts on it in between).
    with_thread_cpu(t, [&](CpuSched&) { t.cpu = index_of(cs); });
    IrqLockGuard guard(cs.lock);
    enqueue_locked(cs, t);
    kick_if_idle(cs);
}

[[gnu::hot]] void sched_yield() {
    mine().need_resched = false;
    schedule();
}

[[gnu::hot]] void sched_prepare_wait() {
    CpuSched& cs = mine();
    IrqLockGuard guard(cs.lock);
    cs.current->wake_pending = false;
}

namespace {
// sched_block's checks, under the CPU's queue lock: true (lock released,
// *why set) if the thread must not block now; false (lock held) to go on.
[[gnu::hot]] bool must_not_block_locked(UniqueLock& queue, Thread& t, uint64_t deadline_ns, WakeReason& why) {
    if (t.wake_pending) {
        t.wake_pending = false;
        why = WakeReason::Signaled;
    } else if (__atomic_load_n(&t.suspend_requested, __ATOMIC_ACQUIRE) ||
               __atomic_load_n(&t.kill_requested, __ATOMIC_ACQUIRE) || t.domain->dying()) {
        // domain_kill and suspend interrupt only threads already blocked: a
        // thread with either pending must not start blocking.
        why = WakeReason::Interrupted;
    } else if (deadline_ns != kNoDeadline && system_time_ns() >= deadline_ns) {
        why = WakeReason::Timeout;
    } else {
        return false;
    }
    queue.unlock();
    return true;
}

// Running -> Blocked (on the sleep list with a deadline), under cs.lock.
[[gnu::hot]] void block_locked(CpuSched& cs, Thread& t, uint64_t deadline_ns) {
    adjust_runnable(t, -1);
    t.state = ThreadState::Blocked;
    t.has_deadline = deadline_ns != kNoDeadline;
    if (t.has_deadline) {
        t.wake_at_ns = deadline_ns;
        Thread** p = &cs.sleepers;
        while (*p && (*p)->wake_at_ns <= deadline_ns) p = &(*p)->sleep_next;
        t.sleep_next = *p;
        *p = &t;
    }
}
} // namespace

[[gnu::hot]] WakeReason sched_block(uint64_t deadline_ns) {
    CpuSched& cs = mine();
    Thread* t = cs.current;
    if (!t) panic("sched_block on an idle context");
    charge_current(cs);
    UniqueLock queue(cs.lock);
    WakeReason why;
    if (must_not_block_locked(queue, *t, deadline_ns, why)) return why;
    block_locked(cs, *t, deadline_ns);
    queue.hand_over();
    switch_locked(cs, t, pick_next_locked(cs));
    return t->wake_reason;
}

[[gnu::hot]] Thread* sched_handoff_ref(Thread& t) {
    if (!kobject_try_ref(t.kobj)) return nullptr;
    // A waiting thread holds its run reference, hence a domain reference:
    // the domain's count is above zero here.
    __atomic_fetch_add(&t.domain->refs, 1, __ATOMIC_ACQ_REL);
    return &t;
}

[[gnu::hot]] void sched_handoff_release(Thread& t) {
    Domain* d = t.domain;
    kobject_unref(t.kobj);
    domain_put(*d);
}

[[gnu::hot]] WakeReason sched_block_handoff(Thread& target, uint64_t deadline_ns) {
    CpuSched& cs = mine();
    Thread* t = cs.current;
    if (!t) panic("sched_block_handoff on an idle context");
    auto ordinary_wake = [&] {
        sched_wake(target);
        sched_handoff_release(target);
    };
    charge_current(cs);
    UniqueLock queue(cs.lock);
    WakeReason why;
    if (must_not_block_locked(queue, *t, deadline_ns, why)) {
        ordinary_wake(); // we go on: target takes the ordinary way
        return why;
    }
    // target's state is ours to change only under the lock of the CPU it
    // names: this one (a blocked thread's cpu changes under that lock).
    const uint32_t me = index_of(cs);
    const uint32_t pinned = __atomic_load_n(&target.entity.affinity_cpu, __ATOMIC_ACQUIRE);
    const bool direct = &target != t && target.cpu == me && target.state == ThreadState::Blocked &&
                        target.entity.eligible() && !target.domain->dying() &&
                        !__atomic_load_n(&target.suspend_requested, __ATOMIC_ACQUIRE) &&
                        !__atomic_load_n(&target.kill_requested, __ATOMIC_ACQUIRE) &&
                        (pinned == sched::kAnyCpu || pinned == me) && cs.rq.size() == 0 && !cs.need_resched;
    if (!direct) {
        queue.unlock();
        ordinary_wake();
        return sched_block(deadline_ns);
    }
    cs.handoff_drop = &target;
    if (target.has_deadline) remove_sleeper_locked(cs, target); // our sleep list
    cs.handoffs++;
    target.wake_reason = WakeReason::Signaled;
    adjust_runnable(target, +1);
    block_locked(cs, *t, deadline_ns);
    queue.hand_over();
    switch_locked(cs, t, &target);
    return t->wake_reason;
}

[[gnu::hot]] void sched_wake(Thread& t) {
    with_thread_cpu(t, [&](CpuSched& cs) {
        if (t.state == ThreadState::Blocked) unblock_locked(cs, t, WakeReason::Signaled);
        else t.wake_pending = true;
    });
}

void sched_set_user_gs(uint64_t base) {
    CpuSched& cs = mine();
    cs.current->gs_base = base;
    arch::set_user_gs_base(base);
    cs.user_gs = base;
}

void sched_kick(Thread& t) {
    if (&t == current_thread()) { // (it runs here: its next block returns at once)
        CpuSched& cs = mine();
        IrqLockGuard guard(cs.lock);
        t.wake_pending = true;
        return;
    }
    with_thread_cpu(t, [&](CpuSched& cs) {
        const uint32_t c = index_of(cs);
        if (t.state == ThreadState::Blocked) {
            unblock_locked(cs, t, WakeReason::Signaled);
            return;
        }
        t.wake_pending = true;
        if (t.state == ThreadState::Running && c != arch::cpu_index())
            arch::lapic_send_ipi(arch::g_percpu[c].apic_id, arch::VECTOR_RESCHEDULE);
    });
}

void sched_interrupt(Thread& t) {
    with_thread_cpu(t, [&](CpuSched& cs) {
        uint32_t c = index_of(cs);
        if (t.state == ThreadState::Blocked) {
            unblock_locked(cs, t, WakeReason::Interrupted);
        } else if (t.state == ThreadState::Running && c != arch::cpu_index()) {
            arch::lapic_send_ipi(arch::g_percpu[c].apic_id, arch::VECTOR_RESCHEDULE);
        } else if (t.state == ThreadState::Suspended && t.domain->dying()) {
            adjust_runnable(t, +1);
            enqueue_locked(cs, t);
            kick_if_idle(cs);
        }
    });
}

void sched_resume(Thread& t) {
    with_thread_cpu(t, [&](CpuSched& cs) {
        if (t.state != ThreadState::Suspended) return;
        adjust_runnable(t, +1);
        enqueue_locked(cs, t);
        kick_if_idle(cs);
    });
}

void sched_set_affinity(Thread& t, uint32_t cpu) {
    __atomic_store_n(&t.entity.affinity_cpu, cpu, __ATOMIC_RELEASE);
    // A running thread moves on its next way to ring 3; a queued one
    // when it is next picked (it goes through the same path).
    with_thread_cpu(t, [&](CpuSched& cs) {
        uint32_t c = index_of(cs);
        if (t.state == ThreadState::Running && c != arch::cpu_index() && cpu != c)
            arch::lapic_send_ipi(arch::g_percpu[c].apic_id, arch::VECTOR_RESCHEDULE);
    });
}

void sched_set_priority(Thread& t, uint32_t level) {
    with_thread_cpu(t, [&](CpuSched&) { t.entity.level = static_cast<uint8_t>(level); });
}

void sched_exit_current() {
    CpuSched& cs = mine();
    Thread* t = cs.current;
    if (!t) panic("sched_exit_current on an idle context");
    charge_current(cs);
    adjust_runnable(*t, -1);
    UniqueLock queue(cs.lock);
    t->state = ThreadState::Dead;
    cs.to_release = t;
    queue.hand_over();
    switch_locked(cs, t, pick_next_locked(cs));
    panic("a dead thread was scheduled again");
}

void sched_resched_ipi() { mine().need_resched = true; }

bool sched_resched_due() { return mine().need_resched; }

void sched_set_paused(Domain& d, bool paused) {
    IrqLockGuard guard(g_account_lock);
    d.account.paused = paused;
}

void sched_all_domains_gone() {
    uint64_t handoffs = 0;
    for (uint32_t c = 0; c < arch::cpus_online(); c++) handoffs += __atomic_load_n(&g_sched[c].handoffs, __ATOMIC_RELAXED);
    log_info("all domains have ended (direct handoffs: %lu)", handoffs);
    const IpcCallCounts calls = ipc_call_counts();
    log_info("ipc calls: %lu delivered directly, %lu queued", calls.direct, calls.queued);
    hypercall_hold_report();
    memory_report();
    if (opt_shutdown_when_done) shutdown(ShutdownReason::Success);
}

// One step of a dead domain's teardown (a safe point: no lock held),
// measured like a call; true if more is left.
bool background_step() {
    if (!domain_teardown_pending()) return false;
    hypercall_hold_begin();
    bool more = domain_teardown_step();
    hypercall_hold_end(kTeardownHoldNr);
    return more;
}

void sched_tick() {
    CpuSched& cs = mine();
    uint64_t now = system_time_ns();
    charge_current(cs);
    if (arch::cpu_index() == 0 && now - g_last_refill_ns >= kPeriodNs) {
        refill_all(now - g_last_refill_ns);
        g_last_refill_ns = now;
    }
    timers_expire(now);
    {
        LockGuard guard(cs.lock);
        wake_sleepers_locked(cs, now);
    }
    // A busy CPU takes one step of pending teardown a tick (on its way to
    // ring 3, a safe point); idle CPUs take the rest (sched_idle).
    if (cs.current && domain_teardown_pending()) cs.teardown_due = cs.need_resched = true;
    if (Thread* t = cs.current) {
        // A tick late by less than a quarter still ends the slice: ticks
        // and slice starts are not aligned.
        if (now - cs.slice_start_ns >= kSliceNs - kSliceNs / 4 || !t->entity.account->eligible() ||
            t->domain->dying())
            cs.need_resched = true;
    }
}

bool sched_idle() {
    // Called with interrupts off from the idle loop; comes back when the
    // CPU has nothing to run.
    schedule();
    // (A domain's rebuild is long: idle CPUs only, after the teardowns.)
    return background_step() || domain_rebuild_step();
}

namespace {
// Whether thread t, about to return to ring 3 from CPU cs, has anything to
// do first (each case below in user_return_work_slow).
[[gnu::always_inline]] inline bool return_work_pending(const CpuSched& cs, const Thread& t) {
    const uint32_t pinned = __atomic_load_n(&t.entity.affinity_cpu, __ATOMIC_ACQUIRE);
    return t.domain->dying() || __atomic_load_n(&t.kill_requested, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&t.suspend_requested, __ATOMIC_ACQUIRE) ||
           (pinned != sched::kAnyCpu && pinned != arch::cpu_index()) || cs.need_resched || t.releasing_regions ||
           t.releasing_aspaces;
}

[[gnu::noinline]] void user_return_work_slow(CpuSched* cs, Thread* t) {
    for (;;) {
        if (t->domain->dying()) thread_exit_current(t->domain->exit_status);
        if (__atomic_load_n(&t->kill_requested, __ATOMIC_ACQUIRE)) thread_exit_current(t->kill_status);
        if (__atomic_load_n(&t->suspend_requested, __ATOMIC_ACQUIRE)) {
            // Resumed, killed or the domain dies meanwhile: look again.
            stop_current(*t);
            continue;
        }
        uint32_t pinned = __atomic_load_n(&t->entity.affinity_cpu, __ATOMIC_ACQUIRE);
        if (pinned != sched::kAnyCpu && pinned != arch::cpu_index()) {
            migrate_current(*t, pinned);
            continue;
        }
        cs = &mine(); // a switch may have moved this thread to another CPU
        if (cs->need_resched) {
            if (cs->teardown_due) {
                cs->teardown_due = false;
                (void)background_step();
                arch::irq_window();
            }
            schedule();
            continue;
        }
        if (!t->releasing_regions && !t->releasing_aspaces) [[likely]]
            return; // (vm_release_pending, read here without a call: every return to ring 3 passes)
        // Memory objects this thread released: one step, then pending
        // interrupts, and a switch if one is due (a safe point: no lock held).
        hypercall_hold_begin();
        vm_release_step(*t);
        hypercall_hold_end(kReleaseHoldNr);
        arch::irq_window();
    }
}
} // namespace

// Every return to ring 3 passes here: the common case (nothing to do) is a
// handful of loads without a call.
[[gnu::hot]] void user_return_work(arch::InterruptFrame&) {
    CpuSched* cs = &mine();
    Thread* t = cs->current;
    if (!t || !return_work_pending(*cs, *t)) [[likely]]
        return;
    user_return_work_slow(cs, t);
}

void describe_current(char* buf, size_t size) {
    Thread* t = current_thread();
    if (!t) format(buf, size, "idle");
    else format(buf, size, "d%u '%s' thread %u", t->domain->id, t->domain->name, t->id);
}

void user_fault_kill_current(arch::InterruptFrame& frame) {
    Thread* t = current_thread();
    if (!t) panic("ring-3 fault without a current thread");
    if (frame.vector == arch::SYSCALL_FRAME_VECTOR)
        log_error("d%u '%s' thread %u: invalid syscall in ring 3: domain killed", t->domain->id, t->domain->name,
                  t->id);
    else
        log_error("d%u '%s' thread %u: unhandled exception %lu in ring 3: domain killed", t->domain->id,
                  t->domain->name, t->id, frame.vector);
    domain_kill(*t->domain, -1, "killed by an unhandled fault");
    thread_exit_current(-1);
}

} // namespace virtue
