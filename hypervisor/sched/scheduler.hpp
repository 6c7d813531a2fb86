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

namespace virtue {

struct Thread;
struct Domain;

inline constexpr uint64_t kSliceNs = 10'000'000;  // one tick
inline constexpr uint64_t kPeriodNs = 30'000'000; // credit refill

void sched_init_this_cpu();

// Makes a new thread runnable, on CPU (hint % online CPUs).
void sched_start_thread(Thread& t, uint32_t hint);

// The running thread (nullptr on a CPU's idle context).
Thread* current_thread();

// Blocking points of the running thread (interrupts off).
void sched_yield();
void sched_sleep_until(uint64_t deadline_ns);
[[noreturn]] void sched_exit_current();

// domain_kill: make a sleeping thread runnable so that it leaves.
void sched_wake_to_exit(Thread& t);

// Pause flag of a domain's share (paused threads are not picked).
void sched_set_paused(Domain& d, bool paused);

// Called when the last domain has gone.
void sched_all_domains_gone();

// Timer tick (interrupts off).
void sched_tick();

// Idle loop body: runs queued threads; returns when nothing is runnable.
void sched_idle();

// On the way back to ring 3 (from an interrupt or a hypercall): leave if the
// domain is dying, switch if a re-pick is due.
void user_return_work(arch::InterruptFrame& frame);

// "d1 'name' thread 0" (or "idle") for messages.
void describe_current(char* buf, size_t size);

// A fault in ring 3 with no handler in the domain: kill it (the register
// dump is already on the console) and leave.
[[noreturn]] void user_fault_kill_current(arch::InterruptFrame& frame);

} // namespace virtue
