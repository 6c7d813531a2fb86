// The scheduler: preemptive, on every CPU, proportional share by weight with
// optional caps (credit accounting in sched/credit.hpp).
//
// Each CPU has a run queue, a sleep list and an idle context (its boot
// stack in cpu_idle_loop). Every 10 ms tick charges the running thread's
// domain and, at the end of a slice, re-picks; every 30 ms CPU 0 refills the
// domains' credit. A CPU whose queue holds nothing better than "over its
// share" steals an "under" thread from another CPU; an idle CPU steals
// anything. Hypervisor code never runs preempted: interrupts are off in
// hypercalls, and switches happen only at ticks, blocking calls and exits.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/descriptors.hpp"
#include "arch/percpu.hpp"
#include "domain/thread.hpp"

namespace virtue {

struct Thread;
struct Domain;

inline constexpr uint64_t kSliceNs = 10'000'000;  // one tick
inline constexpr uint64_t kPeriodNs = 30'000'000; // credit refill

void sched_init_this_cpu();

// Makes a started thread runnable, on its pinned CPU or on CPU
// (hint % online CPUs). Called by thread_start.
void sched_start_thread(Thread& t, uint32_t hint);

// The running thread (nullptr on a CPU's idle context): one load from the
// per-CPU area (the host tests' fake scheduler defines its own).
#ifdef VIRTUE_HOST_TEST
Thread* current_thread();
#else
inline Thread* current_thread() { return static_cast<Thread*>(arch::current_thread_slot()); }
#endif

// Blocking points of the running thread (interrupts off).
void sched_yield();

// The protocol of sched/wait.hpp: sched_prepare_wait() before checking the
// condition, sched_block() after. sched_block returns at once when a wake
// came in between (Signaled), when the thread is asked to stop or its domain
// is dying (Interrupted), or when the deadline has passed (Timeout);
// otherwise it sleeps until sched_wake, sched_interrupt or the deadline (on
// the first tick at or after it). kNoDeadline (sched/wait.hpp): none.
void sched_prepare_wait();
WakeReason sched_block(uint64_t deadline_ns);

// A handoff reference to a thread that waits (possibly of another
// domain): the thread and its domain, so that dropping it can never be the
// last reference of a domain already freed. nullptr if the thread is going
// away.
Thread* sched_handoff_ref(Thread& t);
void sched_handoff_release(Thread& t);

// sched_block that also wakes `target` (the IPC fast path: a client
// handing its CPU to the server it just queued a call for, a server to the
// client it just answered). When target is Blocked on this CPU, may run
// here, is not asked to stop, and nothing else waits on this CPU's run
// queue (so the pair cannot starve other threads or jump the credit
// order), the CPU switches to it at once, skipping the run queue;
// otherwise target gets an ordinary sched_wake first. Either way the
// caller's block follows sched_block's rules. Consumes the caller's
// handoff reference to target (released at once, or by target itself just
// after the switch).
WakeReason sched_block_handoff(Thread& target, uint64_t deadline_ns);

// Makes a Blocked thread runnable (Signaled); a thread not blocked yet has
// its wake remembered for its next sched_block.
void sched_wake(Thread& t);
// Makes t notice something on its way to ring 3 (a PV vCPU's event
// upcall): a Blocked t is woken; one running on another CPU is sent into
// the hypervisor there (IPI); otherwise its next block returns at once.
void sched_kick(Thread& t);
// The current thread's ring-3 GS base, now and after every switch back to it.
void sched_set_user_gs(uint64_t base);
// Suspend and kill: a Blocked thread wakes with Interrupted; one running on
// another CPU is sent there into the hypervisor (IPI) so it sees the request
// at once. A Suspended thread of a dying domain is made runnable to leave.
void sched_interrupt(Thread& t);

// Lets a Suspended thread run again (the caller has cleared its request).
void sched_resume(Thread& t);

// Affinity (sched::kAnyCpu or a CPU index below the online count) and
// priority within the domain (0..kThreadPriorityMax). A thread pinned to
// another CPU moves there on its next way to ring 3.
void sched_set_affinity(Thread& t, uint32_t cpu);
void sched_set_priority(Thread& t, uint32_t level);

// The last step of a dead thread: switches away for good (thread.cpp).
[[noreturn]] void sched_exit_current();

// The reschedule IPI (arch traps): the running thread re-checks its
// requests on its way back to ring 3; an idle CPU looks at its queue.
void sched_resched_ipi();

// Continuations: a long hypercall calls hypercall_preempt_check() at safe
// points (no lock held). It takes the interrupts pending on this CPU and
// returns true when the CPU has other work (a reschedule is due, or the
// thread is asked to stop). The call then records its progress in its own
// argument registers (hypercall_continue_with: 0..5 = rdi, rsi, rdx, r10,
// r8, r9) and returns Err::Restart; the entry rewinds the caller to its
// `syscall`, which runs the rest once the thread runs again. The time a
// call holds its CPU with interrupts off counts from its entry, its last
// check or its return from a switch (a blocking call) (hypercall_hold_*), measured only with the boot option
// `hypercall-hold-stats` (two TSC reads a call; make bench turns it on).
bool hypercall_preempt_check();
// Progress kept in the thread instead (Thread::progress), for calls whose
// caller must find its registers unchanged: the call saves its progress
// with hypercall_save_progress before it returns Err::Restart, and on its
// next run takes it with hypercall_take_progress, which returns false for
// a fresh call (the thread's saved progress, if any, belongs to another
// call or was already taken). Progress a call leaves behind when it is not
// continued is dropped (hypercall_drop_progress: its drop function gives
// back what it holds) the next time a call of the thread saves or looks
// for progress, and at thread exit; every other call pays nothing for it.
void hypercall_save_progress(const uint64_t (&value)[CallProgress::kValues], CallProgress::DropFn drop = nullptr);
bool hypercall_take_progress(uint64_t (&value)[CallProgress::kValues]);
void hypercall_drop_progress(Thread& t);
// The same window without a way out: for a call that only needs to let
// interrupts in while it goes on (no lock held).
void hypercall_irq_window();
bool sched_resched_due(); // this CPU's reschedule flag
void hypercall_hold_report(); // logs the longest hold so far
void hypercall_continue_with(unsigned arg, uint64_t value);
extern bool g_hypercall_hold_stats;
// The number the hold statistic files the release steps of closed memory
// objects under (on the way to ring 3, after the call that closed them).
inline constexpr uint64_t kReleaseHoldNr = ~uint64_t{0};
// ... and the steps of dead domains' teardown (domain_teardown_step).
inline constexpr uint64_t kTeardownHoldNr = ~uint64_t{0} - 1;
void hypercall_hold_begin_measured();
void hypercall_hold_end_measured(uint64_t nr);
// Around a switch: a hold in progress stops counting when its thread is
// switched out (a blocking call) and goes on when it is switched back in.
void hypercall_hold_switch_out(Thread* t);
void hypercall_hold_switch_in(Thread* t);
inline void hypercall_hold_begin() {
    if (g_hypercall_hold_stats) hypercall_hold_begin_measured();
}
inline void hypercall_hold_end(uint64_t nr) {
    if (g_hypercall_hold_stats) hypercall_hold_end_measured(nr);
}

// Pause flag of a domain's share (paused threads are not picked).
void sched_set_paused(Domain& d, bool paused);

// Called when the last domain has gone.
void sched_all_domains_gone();

// Timer tick (interrupts off).
void sched_tick();

// Idle loop body: runs queued threads; returns when nothing is runnable,
// after one step of background work (a dead domain's teardown) if there is
// any: true if more is left (the caller opens an interrupt window and calls
// again rather than halting).
bool sched_idle();

// On the way back to ring 3 (from an interrupt or a hypercall): leave if the
// domain is dying, switch if a re-pick is due.
void user_return_work(arch::InterruptFrame& frame);

// "d1 'name' thread 0" (or "idle") for messages.
void describe_current(char* buf, size_t size);

// A fault in ring 3 with no handler in the domain: kill it (the register
// dump is already on the console) and leave.
[[noreturn]] void user_fault_kill_current(arch::InterruptFrame& frame);

} // namespace virtue
