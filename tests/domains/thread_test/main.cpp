// thread-test: threads, timers and wait_any, driven by its
// bootargs, for the integration tests. Lines it prints:
//
//   checks     "check <label>: ok" / "check <label>: FAIL ..." per check, then
//              "threads: <n> checks, <m> failed" (needs 2 CPUs)
//   lastexit   main ends its own thread only; a worker exits with status 5
//              ~50 ms later, which ends the domain ("its last thread exited",
//              status 5). Prints "lastexit: main leaves" first.
//   churn=N    N rounds of create/start/join/close of 4 threads each; prints
//              "churn: <N> rounds, <f> failures"
//   faults=N   a handler thread serves N demand-zero page faults of a worker
//              (every touch faults: 256 frames recycled over 4096 pages),
//              fixes an invalid opcode by moving rip, and leaves one fault
//              unanswered while the rest goes on; prints "faults: <N>
//              served, <z> non-zero pages, ud2 fixed <0|1>, unanswered
//              thread blocked alone <0|1>, <c> cycles per fault"
//   handlerfault  the handler thread itself faults: the domain dies
//   orphanfault   the handler thread exits while a fault is queued to it:
//              the domain dies ("orphanfault: handler leaves" first)
//   storm=N    two threads suspend, read and resume one spinner N times
//              each, racing; prints "storm: <N> rounds, <r> reads, <f>
//              failures" (needs 2 CPUs)
// then "thread-test: done" and status 0 (1 if anything failed).
#include <stdlib.h>
#include <string.h>
#include <xen/errno.h>

#include <virtue/sdk.hpp>

#include "../checks.hpp"

namespace {

using virtue::print;
namespace sys = virtue::raw; // the ABI as it is: results compared with -XEN_E*
using test_domains::Checks;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kUserLimit = 0x800000000000ull;

bool g_failed = false;

uint64_t now() { return static_cast<uint64_t>(sys::system_time()); }

// Thread bodies (virtue::Thread::Fn).
int64_t return_arg(void* arg) { return reinterpret_cast<int64_t>(arg); }

int64_t spin_count(void* arg) {
    auto* counter = static_cast<volatile uint64_t*>(arg);
    for (;;) *counter = *counter + 1;
}

int64_t sleep_long(void* arg) {
    // Records what the sleep returned (-EAGAIN when suspended meanwhile).
    *static_cast<volatile int64_t*>(arg) = sys::sleep_until(now() + 10'000 * kMs);
    return 1;
}

// Where thread_write_regs sends a suspended spinner: exits with rdi.
extern "C" [[noreturn]] void redirected_exit(uint64_t status) {
    sys::thread_exit(static_cast<int64_t>(status));
    __builtin_unreachable();
}

uint64_t foreign_of(uint64_t h) { return (h & ~(0x7fffull << 40)) | (((h >> 40) + 1) & 0x7fff) << 40; }

void check_create_and_join(Checks& c) {
    const int64_t einval = -XEN_EINVAL, ebadf = -XEN_EBADF, enodev = -XEN_ENODEV, eacces = -XEN_EACCES,
                  exdev = -XEN_EXDEV;
    virtue::AddressSpace as;
    c.expect("aspace_self", virtue::AddressSpace::self(as), 0);
    alignas(16) static uint8_t stack[8192];
    const uint64_t top = reinterpret_cast<uint64_t>(stack + sizeof stack);
    const uint64_t entry = reinterpret_cast<uint64_t>(&redirected_exit);

    c.expect("create_bad_handle", sys::thread_create(0, entry, top, 0, 0), ebadf);
    c.expect("create_foreign_handle", sys::thread_create(foreign_of(as.get()), entry, top, 0, 0), exdev);
    virtue::Memory mem;
    c.expect("memory_create", virtue::Memory::create(1, mem), 0);
    c.expect("create_wrong_type", sys::thread_create(mem.get(), entry, top, 0, 0), enodev);
    virtue::Handle as_noexec;
    c.expect("dup_aspace_no_exec", as.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_MAP | VIRTUE_RIGHT_READ), as_noexec), 0);
    c.expect("create_without_exec_right", sys::thread_create(as_noexec.get(), entry, top, 0, 0), eacces);
    c.expect("create_entry_kernel", sys::thread_create(as.get(), 0xffff800000001000ull, top, 0, 0), einval);
    c.expect("create_entry_limit", sys::thread_create(as.get(), kUserLimit, top, 0, 0), einval);
    c.expect("create_stack_unaligned", sys::thread_create(as.get(), entry, top - 8, 0, 0), einval);
    c.expect("create_stack_kernel", sys::thread_create(as.get(), entry, 0xffff800000010000ull, 0, 0), einval);

    // A raw thread: created stopped, registers as promised.
    int64_t raw = sys::thread_create(as.get(), entry, top, 42, 7);
    c.expect_true("create_raw", raw > 0);
    virtue::Handle raw_h(static_cast<uint64_t>(raw > 0 ? raw : 0));
    virtue_handle_info hi{};
    c.expect("query_thread", raw_h.query(hi), 0);
    c.expect_true("thread_type_rights", hi.type == VIRTUE_OBJ_THREAD &&
                                            hi.rights == (VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER |
                                                          VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE));
    virtue_thread_regs r{};
    c.expect("read_regs_new", sys::thread_read_regs(raw_h.get(), &r), 0);
    c.expect_true("new_regs", r.rip == entry && r.rsp == top && r.rdi == 42 && r.rsi == 7 && r.rax == 0 &&
                                  r.fs_base == 0 && (r.rflags & 0x200));
    c.expect("read_regs_unaligned", sys::thread_read_regs(raw_h.get(), reinterpret_cast<virtue_thread_regs*>(
                                                                            reinterpret_cast<uint64_t>(&r) + 4)),
             einval);
    c.expect("read_regs_kernel_ptr",
             sys::thread_read_regs(raw_h.get(), reinterpret_cast<virtue_thread_regs*>(0xffff800000000000ull)),
             -XEN_EFAULT);
    r.rdi = 33; // the exit status it will report
    c.expect("write_regs_new", sys::thread_write_regs(raw_h.get(), &r), 0);
    virtue_thread_regs bad = r;
    bad.rip = kUserLimit;
    c.expect("write_regs_rip_kernel", sys::thread_write_regs(raw_h.get(), &bad), einval);
    bad = r;
    bad.rflags |= 0x3000; // IOPL 3
    c.expect("write_regs_iopl", sys::thread_write_regs(raw_h.get(), &bad), einval);
    bad = r;
    bad.fs_base = 0xffff800000000000ull;
    c.expect("write_regs_fs_kernel", sys::thread_write_regs(raw_h.get(), &bad), einval);
    c.expect("suspend_new", sys::thread_suspend(raw_h.get()), einval);
    c.expect("resume_new", sys::thread_resume(raw_h.get()), einval);
    virtue::Handle raw_ro;
    c.expect("dup_thread_read_only", raw_h.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), raw_ro), 0);
    c.expect("start_without_write", sys::thread_start(raw_ro.get()), eacces);
    c.expect("write_regs_without_write", sys::thread_write_regs(raw_ro.get(), &r), eacces);
    c.expect("start_wrong_type", sys::thread_start(mem.get()), enodev);
    c.expect("start", sys::thread_start(raw_h.get()), 0);
    c.expect("start_twice", sys::thread_start(raw_h.get()), -XEN_EBUSY);
    int64_t status = 0;
    c.expect("join_read_only_handle", sys::thread_join(raw_ro.get(), VIRTUE_DEADLINE_NONE, &status), 0);
    c.expect("join_status_from_regs", status, 33);
    status = 0;
    c.expect("join_twice", sys::thread_join(raw_h.get(), VIRTUE_DEADLINE_NONE, &status), 0);
    c.expect("join_twice_status", status, 33);
    c.expect("join_status_unaligned",
             sys::thread_join(raw_h.get(), VIRTUE_DEADLINE_NONE, reinterpret_cast<int64_t*>(
                                                                     reinterpret_cast<uint64_t>(&status) + 1)),
             einval);
    c.expect("join_status_kernel",
             sys::thread_join(raw_h.get(), VIRTUE_DEADLINE_NONE, reinterpret_cast<int64_t*>(0xffff800000000000ull)),
             -XEN_EFAULT);
    c.expect("suspend_exited", sys::thread_suspend(raw_h.get()), -XEN_ESRCH);
    c.expect("resume_exited", sys::thread_resume(raw_h.get()), -XEN_ESRCH);
    c.expect("read_regs_exited", sys::thread_read_regs(raw_h.get(), &r), -XEN_ESRCH);
    c.expect("start_exited", sys::thread_start(raw_h.get()), -XEN_EBUSY);

    // SDK threads: fn's return value is the exit status.
    virtue::Thread t;
    c.expect("sdk_create", virtue::Thread::create(return_arg, reinterpret_cast<void*>(1234), t), 0);
    c.expect("sdk_start", t.start(), 0);
    status = 0;
    c.expect("sdk_join", t.join(VIRTUE_DEADLINE_NONE, &status), 0);
    c.expect("sdk_status", status, 1234);

    virtue::Thread self;
    c.expect("thread_self", virtue::Thread::self(self), 0);
    c.expect("join_self", self.join(VIRTUE_DEADLINE_NONE), -XEN_EDEADLK);

    // A join with a deadline on a thread that does not exit.
    static volatile uint64_t spins;
    virtue::Thread spinner;
    c.expect("spinner_create", virtue::Thread::create(spin_count, const_cast<uint64_t*>(&spins), spinner), 0);
    c.expect("spinner_start", spinner.start(), 0);
    uint64_t t0 = now();
    c.expect("join_deadline", spinner.join(t0 + 30 * kMs), -XEN_ETIMEDOUT);
    c.expect_true("join_waited_until_deadline", now() >= t0 + 30 * kMs);
    c.expect("join_past_deadline", spinner.join(0), -XEN_ETIMEDOUT);

    // Suspend: the spinner stops (its counter freezes), its registers can be
    // read and rewritten; resumed at redirected_exit it exits with rdi.
    c.expect("read_regs_running", spinner.read_regs(r), -XEN_EBUSY);
    c.expect("resume_not_suspended", spinner.resume(), 0);
    c.expect("suspend", spinner.suspend(), 0);
    uint64_t frozen = spins;
    sys::sleep_until(now() + 30 * kMs);
    c.expect_true("suspended_does_not_run", spins == frozen && frozen > 0);
    c.expect("suspend_again", spinner.suspend(), 0);
    c.expect("read_regs_suspended", spinner.read_regs(r), 0);
    c.expect_true("suspended_in_user_code", r.rip >= 0x400000 && r.rip < kUserLimit && r.fs_base != 0);
    r.rip = entry;
    r.rdi = 77;
    r.rsp = (r.rsp & ~15ull) - 8; // as after a call
    c.expect("write_regs_suspended", spinner.write_regs(r), 0);
    c.expect("resume", spinner.resume(), 0);
    status = 0;
    c.expect("join_redirected", spinner.join(now() + 5000 * kMs, &status), 0);
    c.expect("redirected_status", status, 77);

    // Suspending a sleeping thread interrupts its sleep (-EAGAIN once resumed).
    static volatile int64_t slept = 1;
    virtue::Thread sleeper;
    c.expect("sleeper_create", virtue::Thread::create(sleep_long, const_cast<int64_t*>(&slept), sleeper), 0);
    c.expect("sleeper_start", sleeper.start(), 0);
    sys::sleep_until(now() + 20 * kMs);
    t0 = now();
    c.expect("suspend_sleeper", sleeper.suspend(), 0);
    c.expect_true("suspend_sleeper_prompt", now() - t0 < 1000 * kMs);
    c.expect_true("sleeper_not_yet_back", slept == 1);
    c.expect("resume_sleeper", sleeper.resume(), 0);
    c.expect("join_sleeper", sleeper.join(now() + 5000 * kMs, &status), 0);
    c.expect("sleep_interrupted", slept, -XEN_EAGAIN);
}

void check_priority_and_affinity(Checks& c) {
    static volatile uint64_t low_count, high_count;
    virtue::Thread low, high, self;
    c.expect("self_for_affinity", virtue::Thread::self(self), 0);
    c.expect("affinity_bad_cpu", self.set_affinity(64), -XEN_EINVAL);
    c.expect("affinity_huge_cpu", self.set_affinity(0x100000000ull), -XEN_EINVAL);
    c.expect("priority_too_high", self.set_priority(16), -XEN_EINVAL);
    c.expect("self_to_cpu1", self.set_affinity(1), 0);
    c.expect("low_create", virtue::Thread::create(spin_count, const_cast<uint64_t*>(&low_count), low), 0);
    c.expect("high_create", virtue::Thread::create(spin_count, const_cast<uint64_t*>(&high_count), high), 0);
    c.expect("low_pin", low.set_affinity(0), 0);
    c.expect("high_pin", high.set_affinity(0), 0);
    c.expect("low_priority", low.set_priority(0), 0);
    c.expect("high_priority", high.set_priority(15), 0);
    c.expect("high_start", high.start(), 0);
    c.expect("low_start", low.start(), 0);
    // Both on CPU 0 (the low one may run until the high one's first tick
    // there); from then on the low one never runs while the high one is
    // runnable, and CPU 1 (where this thread sleeps) may not take it: it is
    // pinned.
    sys::sleep_until(now() + 50 * kMs);
    uint64_t lo0 = low_count, hi0 = high_count;
    sys::sleep_until(now() + 200 * kMs);
    uint64_t lo = low_count, hi = high_count;
    c.expect_true("high_priority_runs", hi > hi0);
    c.expect("low_priority_starved", static_cast<int64_t>(lo - lo0), 0);
    c.expect("low_raised", low.set_priority(15), 0);
    sys::sleep_until(now() + 200 * kMs);
    c.expect_true("equal_priorities_share", low_count > 0 && high_count > hi);
    // Unpinned, an idle CPU takes the low one.
    c.expect("low_lowered", low.set_priority(0), 0);
    c.expect("low_unpinned", low.set_affinity(VIRTUE_CPU_ANY), 0);
    c.expect("self_unpinned", self.set_affinity(VIRTUE_CPU_ANY), 0);
    lo = low_count;
    sys::sleep_until(now() + 200 * kMs);
    c.expect_true("unpinned_low_runs_elsewhere", low_count > lo);
    virtue::Thread* spinners[] = {&low, &high};
    for (virtue::Thread* t : spinners) {
        c.expect("spinner_suspend", t->suspend(), 0);
        virtue_thread_regs r{};
        (void)t->read_regs(r);
        r.rip = reinterpret_cast<uint64_t>(&redirected_exit);
        r.rdi = 0;
        r.rsp = (r.rsp & ~15ull) - 8;
        (void)t->write_regs(r);
        (void)t->resume();
        c.expect("spinner_join", t->join(now() + 5000 * kMs), 0);
    }
}

void check_timers_and_wait(Checks& c) {
    const int64_t einval = -XEN_EINVAL;
    virtue::Timer tm;
    c.expect("timer_create", virtue::Timer::create(tm), 0);
    virtue_handle_info hi{};
    c.expect("query_timer", tm.query(hi), 0);
    c.expect_true("timer_type", hi.type == VIRTUE_OBJ_TIMER);
    c.expect("timer_period_too_short", tm.set(now(), 999'999), einval);
    c.expect("timer_period_one", tm.set(now(), 1), einval);
    uint64_t h = tm.get();
    c.expect("wait_disarmed_polls", sys::wait_any(&h, 1, 0), -XEN_ETIMEDOUT);

    uint64_t t0 = now();
    c.expect("oneshot_set", tm.set(t0 + 30 * kMs), 0);
    c.expect("oneshot_wait", sys::wait_any(&h, 1, VIRTUE_DEADLINE_NONE), 0);
    c.expect_true("oneshot_not_early", now() >= t0 + 30 * kMs);
    c.expect("oneshot_consumed", sys::wait_any(&h, 1, now() + 40 * kMs), -XEN_ETIMEDOUT);

    t0 = now();
    c.expect("periodic_set", tm.set(t0 + 20 * kMs, 20 * kMs), 0);
    int64_t ok = 0;
    for (int i = 0; i < 5; i++) ok += sys::wait_any(&h, 1, now() + 1000 * kMs) == 0;
    c.expect("periodic_five", ok, 5);
    c.expect_true("periodic_in_phase", now() >= t0 + 100 * kMs);
    c.expect("cancel", tm.cancel(), 0);
    c.expect("cancel_again", tm.cancel(), 0);
    c.expect("cancelled_does_not_fire", sys::wait_any(&h, 1, now() + 50 * kMs), -XEN_ETIMEDOUT);

    // Rights and handle errors.
    virtue::Handle tm_ro, tm_wo;
    c.expect("dup_timer_read", tm.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), tm_ro), 0);
    c.expect("dup_timer_write", tm.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_WRITE), tm_wo), 0);
    c.expect("set_without_write", sys::timer_set(tm_ro.get(), now(), 0), -XEN_EACCES);
    c.expect("cancel_without_write", sys::timer_cancel(tm_ro.get()), -XEN_EACCES);
    uint64_t wo = tm_wo.get();
    c.expect("wait_without_read", sys::wait_any(&wo, 1, 0), -XEN_EACCES);
    virtue::Memory mem;
    (void)virtue::Memory::create(1, mem);
    uint64_t mh = mem.get();
    c.expect("timer_set_memory", sys::timer_set(mh, now(), 0), -XEN_ENODEV);
    c.expect("wait_memory_handle", sys::wait_any(&mh, 1, 0), -XEN_ENODEV);
    uint64_t zero = 0;
    c.expect("wait_bad_handle", sys::wait_any(&zero, 1, 0), -XEN_EBADF);
    uint64_t foreign = foreign_of(h);
    c.expect("wait_foreign_handle", sys::wait_any(&foreign, 1, 0), -XEN_EXDEV);
    uint64_t many[17] = {};
    for (uint64_t& x : many) x = h;
    c.expect("wait_count_zero", sys::wait_any(many, 0, 0), einval);
    c.expect("wait_count_17", sys::wait_any(many, 17, 0), einval);
    c.expect("wait_16_polls", sys::wait_any(many, 16, 0), -XEN_ETIMEDOUT);
    c.expect("wait_unaligned",
             sys::wait_any(reinterpret_cast<const uint64_t*>(reinterpret_cast<uint64_t>(many) + 4), 1, 0), einval);
    c.expect("wait_kernel_ptr", sys::wait_any(reinterpret_cast<const uint64_t*>(0xffff800000000000ull), 1, 0),
             -XEN_EFAULT);
    {
        virtue::Timer closed;
        (void)virtue::Timer::create(closed);
        uint64_t ch = closed.get();
        closed.reset();
        c.expect("wait_closed_handle", sys::wait_any(&ch, 1, 0), -XEN_EBADF);
    }

    // Several objects: a far timer and a thread that exits soon.
    virtue::Thread quick;
    c.expect("quick_create", virtue::Thread::create(return_arg, nullptr, quick), 0);
    c.expect("far_timer", tm.set(now() + 10'000 * kMs), 0);
    uint64_t pair[2] = {tm.get(), quick.get()};
    c.expect("quick_start", quick.start(), 0);
    c.expect("wait_any_thread", sys::wait_any(pair, 2, now() + 5000 * kMs), 1);
    c.expect("wait_any_exited_stays_ready", sys::wait_any(pair, 2, 0), 1);
    c.expect("quick_join", quick.join(0), 0);
    // Closing an armed timer disarms and frees it (nothing fires later).
    tm.reset();
}

void check_limits(Checks& c) {
    // 64 threads per domain: this one plus created ones.
    static virtue::Thread pool[64];
    int created = 0;
    int64_t rc = 0;
    for (; created < 64; created++) {
        rc = virtue::Thread::create(return_arg, nullptr, pool[created], 4096).raw();
        if (rc < 0) break;
    }
    c.expect("thread_limit_errno", rc, -XEN_ENOSPC);
    // Every thread of the earlier checks was joined and its handles closed,
    // so only this one is left: a leaked thread object shows here. A join
    // returns once a thread has exited; its object goes a moment later,
    // when its CPU has switched away from it (on another CPU, whose QEMU
    // thread the host may hold up). So a missing slot gets a few
    // milliseconds to come back before it counts as leaked.
    for (int tries = 0; created < 63 && tries < 200; tries++) {
        sys::sleep_until(now() + 1 * kMs);
        if (virtue::Thread::create(return_arg, nullptr, pool[created], 4096).raw() >= 0) created++;
    }
    c.expect("thread_limit_count", created, 63);
    for (int i = 0; i < created; i++) pool[i].reset(); // never started: freed by the close
    virtue::Thread again;
    c.expect("create_after_close", virtue::Thread::create(return_arg, nullptr, again), 0);
}

void check_faults_and_kill(Checks& c);

void do_checks() {
    Checks c;
    check_create_and_join(c);
    check_priority_and_affinity(c);
    check_timers_and_wait(c);
    check_faults_and_kill(c);
    check_limits(c);
    print("threads: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

int64_t exit_later(void*) {
    sys::sleep_until(now() + 50 * kMs);
    return 5;
}

void do_lastexit() {
    virtue::Thread* t = new virtue::Thread;
    if (virtue::Thread::create(exit_later, nullptr, *t).raw() < 0 || t->start().raw() < 0) {
        print("lastexit: cannot start the worker\n");
        sys::exit(1);
    }
    print("lastexit: main leaves\n");
    sys::thread_exit(0);
}

void do_churn(unsigned long rounds) {
    unsigned failures = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        virtue::Thread ts[4];
        for (unsigned i = 0; i < 4; i++) {
            if (virtue::Thread::create(return_arg, reinterpret_cast<void*>(uint64_t{i} + r), ts[i], 4096).raw() < 0 ||
                ts[i].start().raw() < 0)
                failures++;
        }
        for (unsigned i = 0; i < 4; i++) {
            int64_t st = -1;
            if (ts[i].join(now() + 5000 * kMs, &st).raw() != 0 || st != static_cast<int64_t>(i + r)) failures++;
        }
    }
    print("churn: %lu rounds, %u failures\n", rounds, failures);
    if (failures) g_failed = true;
}

// ---- In-domain fault handling ----

constexpr uint64_t kPage = 4096;
constexpr uint64_t kDemand = 0x200000000000ull; // 4096 pages, mapped on demand
constexpr uint64_t kDemandPages = 4096;
constexpr uint64_t kNever = 0x300000000000ull;  // faults here are never answered
constexpr uint64_t kWindow = 0x310000000000ull; // the handler's view of the frame pool
constexpr uint64_t kPoolPages = 256;
constexpr uint64_t kAnswered = 0x320000000000ull; // check_fault_answered_elsewhere

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
}

struct FaultState {
    virtue::AddressSpace as;
    virtue::Memory pool;
    uint64_t mapped_at[kPoolPages] = {}; // VA each pool frame is mapped at (0: none)
    uint64_t next = 0;
    volatile uint64_t served = 0, ud2_fixed = 0, never_handle = 0, stop = 0, errors = 0;
};

int64_t fault_handler(void* arg) {
    auto& st = *static_cast<FaultState*>(arg);
    while (!st.stop) {
        virtue_fault_info fi{};
        int64_t rc = sys::fault_wait(now() + 20 * kMs, &fi);
        if (rc == -XEN_ETIMEDOUT) continue;
        if (rc < 0) {
            st.errors = st.errors + 1;
            continue;
        }
        if (fi.vector == 14 && fi.address >= kDemand && fi.address < kDemand + kDemandPages * kPage) {
            uint64_t slot = st.next++ % kPoolPages;
            if (st.mapped_at[slot] && st.as.unmap(st.mapped_at[slot], kPage).raw() < 0) st.errors = st.errors + 1;
            memset(reinterpret_cast<void*>(kWindow + slot * kPage), 0, kPage);
            uint64_t page = fi.address & ~(kPage - 1);
            if (st.as.map(page, st.pool, slot * kPage, kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)).raw() < 0)
                st.errors = st.errors + 1;
            st.mapped_at[slot] = page;
            st.served = st.served + 1;
            sys::thread_resume(fi.thread);
            sys::handle_close(fi.thread);
        } else if (fi.vector == 6) {
            virtue_thread_regs r{};
            sys::thread_read_regs(fi.thread, &r);
            r.rip += 2; // ud2
            sys::thread_write_regs(fi.thread, &r);
            st.ud2_fixed = 1;
            sys::thread_resume(fi.thread);
            sys::handle_close(fi.thread);
        } else if (fi.vector == 14 && fi.address == kNever) {
            st.never_handle = fi.thread; // left stopped; main kills it later
        } else {
            sys::thread_kill(fi.thread, -14);
            sys::handle_close(fi.thread);
        }
    }
    return 0;
}

struct WorkerArgs {
    uint64_t touches;
    volatile uint64_t nonzero;
    volatile uint64_t cycles;
};

int64_t demand_worker(void* arg) {
    auto& w = *static_cast<WorkerArgs*>(arg);
    asm volatile("ud2"); // the handler skips it
    uint64_t t0 = rdtsc();
    for (uint64_t i = 0; i < w.touches; i++) {
        auto* p = reinterpret_cast<volatile uint64_t*>(kDemand + (i % kDemandPages) * kPage + (i % 8) * 8);
        if (*p != 0) w.nonzero = w.nonzero + 1; // faults: a fresh zero page
        *p = i + 1;
        if (*p != i + 1) w.nonzero = w.nonzero + 1;
    }
    w.cycles = (rdtsc() - t0) / (w.touches ? w.touches : 1);
    return 0;
}

int64_t never_worker(void*) {
    return static_cast<int64_t>(*reinterpret_cast<volatile uint64_t*>(kNever)); // stops here for good
}

void do_faults(unsigned long n) {
    static FaultState st;
    auto fail = [](const char* what, int64_t rc) {
        print("faults: %s failed: %lld\n", what, static_cast<long long>(rc));
        g_failed = true;
    };
    if (int64_t rc = virtue::AddressSpace::self(st.as).raw(); rc < 0) return fail("aspace_self", rc);
    if (int64_t rc = virtue::Memory::create(kPoolPages, st.pool).raw(); rc < 0) return fail("memory_create", rc);
    if (int64_t rc = st.as.map(kWindow, st.pool, 0, kPoolPages * kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)).raw(); rc < 0)
        return fail("map window", rc);
    virtue::Thread handler, worker, never;
    static WorkerArgs wa;
    wa.touches = n;
    if (int64_t rc = virtue::Thread::create(fault_handler, &st, handler).raw(); rc < 0) return fail("handler", rc);
    if (int64_t rc = virtue::Thread::create(demand_worker, &wa, worker).raw(); rc < 0) return fail("worker", rc);
    if (int64_t rc = virtue::Thread::create(never_worker, nullptr, never).raw(); rc < 0) return fail("never", rc);
    // The address space's handler serves every thread; the "never" worker
    // gets it through its own registration (same handler).
    if (int64_t rc = sys::fault_handler_set(st.as.get(), handler.get()); rc < 0) return fail("set aspace", rc);
    if (int64_t rc = sys::fault_handler_set(never.get(), handler.get()); rc < 0) return fail("set thread", rc);
    (void)handler.start();
    (void)never.start();
    // The unanswered fault comes first: everything else must go on.
    while (!st.never_handle) sys::sleep_until(now() + 10 * kMs);
    (void)worker.start();
    int64_t status = -1;
    int64_t jr = worker.join(now() + 600'000 * kMs, &status).raw();
    bool alone = jr == 0 && status == 0 && never.join(0).raw() == -XEN_ETIMEDOUT;
    // Now end the stopped one: thread_kill lets it go, to exit.
    sys::thread_kill(st.never_handle, -77);
    int64_t never_status = 0;
    bool killed = never.join(now() + 5000 * kMs, &never_status).raw() == 0 && never_status == -77;
    st.stop = 1;
    (void)handler.join(now() + 5000 * kMs);
    sys::handle_close(st.never_handle);
    print("faults: %llu served, %llu non-zero pages, ud2 fixed %llu, unanswered thread blocked alone %d, "
          "killed %d, handler errors %llu, %llu cycles per fault\n",
          static_cast<unsigned long long>(st.served), static_cast<unsigned long long>(wa.nonzero),
          static_cast<unsigned long long>(st.ud2_fixed), alone ? 1 : 0, killed ? 1 : 0,
          static_cast<unsigned long long>(st.errors), static_cast<unsigned long long>(wa.cycles));
    if (st.served != n || wa.nonzero || !st.ud2_fixed || !alone || !killed || st.errors) g_failed = true;
    // Handlers go with the objects: the table forgets them.
    sys::fault_handler_set(st.as.get(), 0);
}

int64_t faulting_handler(void*) {
    return static_cast<int64_t>(*reinterpret_cast<volatile uint64_t*>(kNever));
}

void do_handlerfault() {
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    virtue::Thread h;
    (void)virtue::Thread::create(faulting_handler, nullptr, h);
    sys::fault_handler_set(as.get(), h.get());
    print("handlerfault: the handler faults now\n");
    (void)h.start();
    (void)h.join(VIRTUE_DEADLINE_NONE);
    print("handlerfault: still alive (wrong)\n");
}

// A killed thread leaves even when higher priorities of its domain keep
// every CPU busy, and a second kill keeps the first status.
void check_kill_beats_priorities(Checks& c, virtue::Thread& self) {
    static volatile uint64_t spins[3];
    virtue::Thread hi[2], low;
    c.expect("kp_self_top", self.set_priority(15), 0);
    for (unsigned i = 0; i < 2; i++) {
        (void)virtue::Thread::create(spin_count, const_cast<uint64_t*>(&spins[i]), hi[i]);
        (void)hi[i].set_priority(15);
        (void)hi[i].set_affinity(i);
        (void)hi[i].start();
    }
    (void)virtue::Thread::create(spin_count, const_cast<uint64_t*>(&spins[2]), low);
    (void)low.set_priority(0);
    (void)low.start();
    sys::sleep_until(now() + 30 * kMs);
    c.expect("kp_kill_low", sys::thread_kill(low.get(), static_cast<uint64_t>(-21)), 0);
    // A second kill changes nothing: 0, or -ESRCH if the thread has already
    // left (at the top priority it may run as soon as the first kill returns).
    const int64_t again = sys::thread_kill(low.get(), static_cast<uint64_t>(-22));
    c.expect("kp_kill_low_again", again == 0 || again == -XEN_ESRCH, 1);
    int64_t status = 0;
    c.expect("kp_join_low", low.join(now() + 3000 * kMs, &status), 0);
    c.expect("kp_first_status_stands", status, -21);
    for (auto& h : hi) {
        sys::thread_kill(h.get(), 0);
        c.expect("kp_join_high", h.join(now() + 3000 * kMs), 0);
    }
    c.expect("kp_self_default", self.set_priority(VIRTUE_PRIORITY_DEFAULT), 0);
}

int64_t touch_two(void*) {
    *reinterpret_cast<volatile uint64_t*>(kAnswered) = 1;
    *reinterpret_cast<volatile uint64_t*>(kAnswered + kPage) = 2;
    return 0;
}

// A fault answered (resumed) by a thread other than the handler before the
// handler took it leaves the handler's queue: the same thread can fault
// again, and the handler sees only that second fault. The calling thread is
// the handler.
void check_fault_answered_elsewhere(Checks& c, virtue::AddressSpace& as, virtue::Thread& self) {
    virtue::Memory mem;
    c.expect("fa_memory", virtue::Memory::create(2, mem), 0);
    virtue::Thread w;
    c.expect("fa_create", virtue::Thread::create(touch_two, nullptr, w), 0);
    c.expect("fa_set", sys::fault_handler_set(w.get(), self.get()), 0);
    (void)w.start();
    // Waits for the faulting thread to stop (it faults at once).
    c.expect("fa_suspend_faulted", w.suspend(), 0);
    virtue_thread_regs regs{};
    c.expect("fa_read_regs", sys::thread_read_regs(w.get(), &regs), 0);
    c.expect("fa_map_first", as.map(kAnswered, mem, 0, kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)), 0);
    c.expect("fa_resume_elsewhere", w.resume(), 0);
    virtue_fault_info fi{};
    c.expect("fa_second_fault", sys::fault_wait(now() + 5000 * kMs, &fi), 0);
    c.expect("fa_second_address", fi.address, kAnswered + kPage);
    c.expect("fa_map_second", as.map(kAnswered + kPage, mem, kPage, kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)), 0);
    c.expect("fa_resume", sys::thread_resume(fi.thread), 0);
    sys::handle_close(fi.thread);
    int64_t status = -1;
    c.expect("fa_join", w.join(now() + 5000 * kMs, &status), 0);
    c.expect("fa_status", status, 0);
    c.expect("fa_queue_empty", sys::fault_wait(now() + 20 * kMs, &fi), -XEN_ETIMEDOUT);
    c.expect("fa_values", *reinterpret_cast<volatile uint64_t*>(kAnswered + kPage), 2);
    c.expect("fa_unmap", as.unmap(kAnswered, 2 * kPage), 0);
}

void check_faults_and_kill(Checks& c) {
    virtue::AddressSpace as;
    c.expect("fh_aspace_self", virtue::AddressSpace::self(as), 0);
    virtue::Thread h, self;
    c.expect("fh_handler_create", virtue::Thread::create(return_arg, nullptr, h), 0);
    c.expect("fh_self", virtue::Thread::self(self), 0);
    virtue::Memory mem;
    (void)virtue::Memory::create(1, mem);
    c.expect("fh_bad_target", sys::fault_handler_set(0, h.get()), -XEN_EBADF);
    c.expect("fh_foreign_target", sys::fault_handler_set(foreign_of(as.get()), h.get()), -XEN_EXDEV);
    c.expect("fh_memory_target", sys::fault_handler_set(mem.get(), h.get()), -XEN_ENODEV);
    c.expect("fh_memory_handler", sys::fault_handler_set(as.get(), mem.get()), -XEN_ENODEV);
    c.expect("fh_bad_handler", sys::fault_handler_set(as.get(), 12345), -XEN_EBADF);
    c.expect("fh_self_handler", sys::fault_handler_set(h.get(), h.get()), -XEN_EINVAL);
    virtue::Handle as_ro, h_ro;
    (void)as.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), as_ro);
    (void)h.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), h_ro);
    c.expect("fh_target_without_map", sys::fault_handler_set(as_ro.get(), h.get()), -XEN_EACCES);
    c.expect("fh_handler_without_write", sys::fault_handler_set(as.get(), h_ro.get()), -XEN_EACCES);
    c.expect("fh_set_thread", sys::fault_handler_set(self.get(), h.get()), 0);
    c.expect("fh_remove_thread", sys::fault_handler_set(self.get(), 0), 0);
    c.expect("fh_remove_unset", sys::fault_handler_set(as.get(), 0), 0);
    c.expect("kill_new", sys::thread_kill(h.get(), 1), -XEN_EINVAL);
    (void)h.start();
    (void)h.join(VIRTUE_DEADLINE_NONE);
    c.expect("fh_exited_handler", sys::fault_handler_set(as.get(), h.get()), -XEN_ESRCH);
    c.expect("kill_exited", sys::thread_kill(h.get(), 1), -XEN_ESRCH);
    c.expect("kill_without_write", sys::thread_kill(h_ro.get(), 1), -XEN_EACCES);
    virtue_fault_info fi{};
    c.expect("fault_wait_unaligned",
             sys::fault_wait(0, reinterpret_cast<virtue_fault_info*>(reinterpret_cast<uint64_t>(&fi) + 4)), -XEN_EINVAL);
    c.expect("fault_wait_kernel_ptr", sys::fault_wait(0, reinterpret_cast<virtue_fault_info*>(0xffff800000000000ull)),
             -XEN_EFAULT);
    c.expect("fault_wait_nothing", sys::fault_wait(now() + 20 * kMs, &fi), -XEN_ETIMEDOUT);
    // thread_kill of a running spinner and of a sleeping thread.
    static volatile uint64_t spins;
    static volatile int64_t slept;
    virtue::Thread spinner, sleeper;
    (void)virtue::Thread::create(spin_count, const_cast<uint64_t*>(&spins), spinner);
    (void)virtue::Thread::create(sleep_long, const_cast<int64_t*>(&slept), sleeper);
    (void)spinner.start();
    (void)sleeper.start();
    sys::sleep_until(now() + 20 * kMs);
    int64_t st1 = 0, st2 = 0;
    c.expect("kill_spinner", sys::thread_kill(spinner.get(), -5), 0);
    c.expect("kill_sleeper", sys::thread_kill(sleeper.get(), -6), 0);
    c.expect("join_killed_spinner", spinner.join(now() + 5000 * kMs, &st1), 0);
    c.expect("join_killed_sleeper", sleeper.join(now() + 5000 * kMs, &st2), 0);
    c.expect("killed_spinner_status", st1, -5);
    c.expect("killed_sleeper_status", st2, -6);
    check_kill_beats_priorities(c, self);
    check_fault_answered_elsewhere(c, as, self);
}

volatile uint64_t g_handler_go, g_about_to_fault;

int64_t flag_and_fault(void*) {
    g_about_to_fault = 1;
    return static_cast<int64_t>(*reinterpret_cast<volatile uint64_t*>(kNever));
}

int64_t leaving_handler(void*) {
    while (!g_handler_go) sys::sleep_until(now() + 5 * kMs);
    print("orphanfault: handler leaves\n");
    return 0;
}

void do_orphanfault() {
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    virtue::Thread h, w;
    (void)virtue::Thread::create(leaving_handler, nullptr, h);
    (void)virtue::Thread::create(flag_and_fault, nullptr, w);
    sys::fault_handler_set(w.get(), h.get());
    (void)h.start();
    (void)w.start();
    // The worker faults right after it flags (it has a CPU of its own).
    while (!g_about_to_fault) sys::sleep_until(now() + 5 * kMs);
    sys::sleep_until(now() + 200 * kMs);
    g_handler_go = 1;
    (void)h.join(VIRTUE_DEADLINE_NONE);
    sys::sleep_until(now() + 1000 * kMs);
    print("orphanfault: not killed (wrong)\n");
}

struct Storm {
    virtue::Thread* target;
    unsigned long rounds;
    volatile uint64_t reads, failures;
};

int64_t storm_body(void* arg) {
    auto& s = *static_cast<Storm*>(arg);
    for (unsigned long i = 0; i < s.rounds; i++) {
        // Another thread may resume it first: then suspend returns early
        // and the registers may be busy; nothing may hang or fail otherwise.
        if (s.target->suspend().raw() != 0) s.failures = s.failures + 1;
        virtue_thread_regs r{};
        int64_t rc = sys::thread_read_regs(s.target->get(), &r);
        if (rc == 0) __atomic_add_fetch(&s.reads, 1, __ATOMIC_RELAXED);
        else if (rc != -XEN_EBUSY) s.failures = s.failures + 1;
        if (s.target->resume().raw() != 0) s.failures = s.failures + 1;
    }
    return 0;
}

void do_storm(unsigned long rounds) {
    static volatile uint64_t spins;
    virtue::Thread spinner, a, b;
    static Storm st;
    st.target = &spinner;
    st.rounds = rounds;
    (void)virtue::Thread::create(spin_count, const_cast<uint64_t*>(&spins), spinner);
    (void)spinner.start();
    (void)virtue::Thread::create(storm_body, &st, a);
    (void)virtue::Thread::create(storm_body, &st, b);
    (void)a.start();
    (void)b.start();
    unsigned long failures = 0;
    if (a.join(now() + 120'000 * kMs).raw() != 0) failures++;
    if (b.join(now() + 120'000 * kMs).raw() != 0) failures++;
    if (sys::thread_kill(spinner.get(), 3) != 0) failures++;
    int64_t status = 0;
    if (spinner.join(now() + 5000 * kMs, &status).raw() != 0 || status != 3) failures++;
    failures += st.failures;
    print("storm: %lu rounds, %llu reads, %lu failures\n", rounds, static_cast<unsigned long long>(st.reads),
          failures);
    if (failures || !st.reads) g_failed = true;
}

} // namespace

int main() {
    for (size_t i = 0; i < virtue::arg_count(); i++) {
        const char* w = virtue::arg(i);
        if (!strcmp(w, "checks")) do_checks();
        else if (!strcmp(w, "lastexit")) do_lastexit();
        else if (!strncmp(w, "churn=", 6)) do_churn(strtoul(w + 6, nullptr, 0));
        else if (!strncmp(w, "faults=", 7)) do_faults(strtoul(w + 7, nullptr, 0));
        else if (!strcmp(w, "handlerfault")) do_handlerfault();
        else if (!strcmp(w, "orphanfault")) do_orphanfault();
        else if (!strncmp(w, "storm=", 6)) do_storm(strtoul(w + 6, nullptr, 0));
        else {
            print("thread-test: unknown action '%s'\n", w);
            return 2;
        }
    }
    print("thread-test: done\n");
    return g_failed ? 1 : 0;
}
