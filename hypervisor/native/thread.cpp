// Native calls on threads: create, start, suspend, resume, registers,
// priority, affinity, exit, join, kill, yield and the TLS base.
#include "arch/cpu.hpp"
#include "arch/percpu.hpp"
#include "arch/user_entry.hpp"
#include "domain/fault.hpp"
#include "native_handlers.hpp"

namespace virtue::native {

static_assert(kThreadPriorityDefault == VIRTUE_PRIORITY_DEFAULT);
static_assert(kThreadPriorityMax == 15); // native.toml: thread_set_priority's bound
static_assert(kMaxThreadsPerDomain == 64); // native.toml says so

CallResult call_yield() {
    sched_yield();
    return 0;
}

CallResult call_set_tls_base(uint64_t base) {
    if (base >= arch::USER_LIMIT) return Err::InvalidArgument;
    caller_thread().fs_base = base;
    arch::wrmsr(arch::MSR_FS_BASE, base);
    return 0;
}

CallResult call_thread_create(AspaceRef& aspace, uint64_t entry, uint64_t stack, uint64_t arg0, uint64_t arg1) {
    if (entry >= arch::USER_LIMIT || stack > arch::USER_LIMIT || (stack & 15)) return Err::InvalidArgument;
    NewHandle h(caller_handles());
    TRY(h.status());
    auto t = thread_create(caller(), *aspace, entry, stack, arg0, arg1, 0);
    if (!t) return t.error() == Err::NoSpace ? Err::NoSpace : Err::NoMemory;
    (*t)->xen_vcpu = caller_thread().xen_vcpu; // acts as its creator's vCPU
    return h.publish((*t)->kobj, kThreadRights);
}

namespace {
// Why an operation that needs a started, not exited thread is refused;
// under t.events.lock.
Status started_alive_locked(const Thread& t) {
    if (t.exited) return Err::Exited;
    if (!t.started) return Err::InvalidArgument;
    return Status::success();
}
} // namespace

CallResult call_thread_start(ThreadRef& thread) {
    Thread& th = *thread;
    TRY(thread_start(th, th.id)); // spread: an idle CPU is kicked at once
    return 0;
}

CallResult call_thread_suspend(ThreadRef& thread) {
    Thread& target = *thread;
    {
        IrqLockGuard guard(target.events.lock);
        TRY(started_alive_locked(target));
        __atomic_store_n(&target.suspend_requested, true, __ATOMIC_RELEASE);
        if (target.stopped) return 0;
    }
    sched_interrupt(target); // a blocked target's call ends; a remote one enters the hypervisor
    if (&target == &caller_thread()) return 0; // stops on its way out of this call
    // The target stops at its next way to ring 3: wait for that (or for
    // its exit, or for someone resuming it first).
    int64_t r = wait_until(target.events, kNoDeadline, [](Waitable&, void* ctx) {
        Thread& th = *static_cast<Thread*>(ctx);
        return th.stopped || th.exited || !th.suspend_requested;
    }, &target);
    if (r != 0) return Err::Interrupted;
    return 0;
}

CallResult call_thread_resume(ThreadRef& thread) {
    Thread& target = *thread;
    auto verdict = fault_release_thread(target, [](Thread& th, void*) -> Result<Release> {
        TRY(started_alive_locked(th));
        return th.suspend_requested ? Release::Go : Release::Nothing; // not suspended: nothing to do
    }, nullptr);
    if (!verdict) return verdict.error();
    if (*verdict == Release::Go) sched_resume(target);
    return 0;
}

namespace {
constexpr uint64_t kUserFlags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800; // CF PF AF ZF SF TF DF OF
constexpr uint64_t kFlagsFixed = 0x202;                                                  // IF, reserved bit 1

// Runs fn(frame) on a stopped thread's ring-3 registers, under its lock
// (a resume waits for it).
template <typename Fn> Status with_stopped_regs(Thread& t, Fn fn) {
    IrqLockGuard guard(t.events.lock);
    if (t.exited) return Err::Exited;
    if (!t.stopped) return Err::Busy;
    fn(t.user_frame());
    return Status::success();
}
} // namespace

CallResult call_thread_read_regs(ThreadRef& thread, UserPtr<virtue_thread_regs> regs) {
    virtue_thread_regs out{};
    TRY(with_stopped_regs(*thread, [&](const arch::InterruptFrame& f) {
        out = {f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp, f.rsp, f.r8, f.r9, f.r10,
               f.r11, f.r12, f.r13, f.r14, f.r15, f.rip, f.rflags, 0};
    }));
    out.fs_base = thread->fs_base;
    TRY(regs.write(out)); // outside the lock: it may fault
    return 0;
}

CallResult call_thread_write_regs(ThreadRef& thread, UserPtr<const virtue_thread_regs> regs) {
    virtue_thread_regs in;
    TRY(regs.read(in));
    if (in.rip >= arch::USER_LIMIT || in.fs_base >= arch::USER_LIMIT) return Err::InvalidArgument;
    if (in.rflags & ~(kUserFlags | kFlagsFixed)) return Err::InvalidArgument;
    Thread& th = *thread;
    TRY(with_stopped_regs(th, [&](arch::InterruptFrame& f) {
        f.rax = in.rax, f.rbx = in.rbx, f.rcx = in.rcx, f.rdx = in.rdx, f.rsi = in.rsi, f.rdi = in.rdi;
        f.rbp = in.rbp, f.rsp = in.rsp, f.r8 = in.r8, f.r9 = in.r9, f.r10 = in.r10, f.r11 = in.r11;
        f.r12 = in.r12, f.r13 = in.r13, f.r14 = in.r14, f.r15 = in.r15, f.rip = in.rip;
        f.rflags = (in.rflags & kUserFlags) | kFlagsFixed;
        // FS base is loaded at every switch to the thread; a stopped thread
        // is not running, so the next switch picks this up.
        th.fs_base = in.fs_base;
    }));
    return 0;
}

CallResult call_thread_set_priority(ThreadRef& thread, uint64_t priority) {
    Thread& th = *thread;
    if (__atomic_load_n(&th.kill_requested, __ATOMIC_ACQUIRE)) return 0; // leaving at the top priority
    sched_set_priority(th, static_cast<uint32_t>(priority));
    return 0;
}

CallResult call_thread_set_affinity(ThreadRef& thread, uint64_t cpu) {
    if (cpu != VIRTUE_CPU_ANY && cpu >= arch::cpus_online()) return Err::InvalidArgument;
    sched_set_affinity(*thread, cpu == VIRTUE_CPU_ANY ? sched::kAnyCpu : static_cast<uint32_t>(cpu));
    return 0;
}

CallResult call_thread_exit(int64_t status) { thread_exit_current(status); }

CallResult call_thread_join(ThreadRef& thread, uint64_t deadline_ns, UserPtr<int64_t> status) {
    Thread& target = *thread;
    if (&target == &caller_thread()) return Err::WouldDeadlock;
    Waitable* w = &target.events;
    TRY(wait_status(wait_any(&w, 1, deadline_ns)));
    if (!status.null()) {
        int64_t value = target.exit_status; // written before `exited`, under the lock we saw it under
        TRY(status.write(value));
    }
    return 0;
}

CallResult call_thread_kill(ThreadRef& thread, int64_t status) {
    Thread& target = *thread;
    auto verdict = fault_release_thread(target, [](Thread& th, void* ctx) -> Result<Release> {
        TRY(started_alive_locked(th));
        if (th.kill_requested) return Release::Nothing; // the first kill's status stands
        th.kill_status = *static_cast<int64_t*>(ctx);
        __atomic_store_n(&th.kill_requested, true, __ATOMIC_RELEASE);
        return Release::Go;
    }, &status);
    if (!verdict) return verdict.error();
    if (*verdict == Release::Go) {
        // It must run to leave: first among its domain's threads, so that
        // higher priorities cannot hold its exit (and its join) back.
        sched_set_priority(target, kThreadPriorityMax);
        sched_resume(target);    // a stopped one runs to leave
        sched_interrupt(target); // a blocked one's call ends; a remote one enters the hypervisor
    }
    return 0;
}

} // namespace virtue::native
