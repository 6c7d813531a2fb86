// Preemptible hypercalls (sched/scheduler.hpp: continuations) and the
// longest time a hypercall held its CPU with interrupts off.
#include "arch/cpu.hpp"
#include "core/cmdline.hpp"
#include "arch/percpu.hpp"
#include "console/console.hpp"
#include "domain/domain.hpp"
#include "sched/scheduler.hpp"
#include "time/clock.hpp"

namespace virtue {

bool g_hypercall_hold_stats = false;
VIRTUE_BOOLEAN_PARAM("hypercall-hold-stats", g_hypercall_hold_stats);

namespace {

// Per CPU: the TSC when the current hold began (entry or last check).
uint64_t g_hold_since[MAX_CPUS];
// The longest hold seen, and the call that held it; updated by compare-
// exchange (relaxed: a statistic, read at the end of a run).
uint64_t g_worst_hold = 0;
uint64_t g_worst_hold_nr = 0;

void note_hold(uint64_t nr) {
    const uint64_t held = arch::rdtsc() - g_hold_since[arch::cpu_index()];
    uint64_t worst = __atomic_load_n(&g_worst_hold, __ATOMIC_RELAXED);
    while (held > worst) {
        if (__atomic_compare_exchange_n(&g_worst_hold, &worst, held, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            __atomic_store_n(&g_worst_hold_nr, nr, __ATOMIC_RELAXED);
            break;
        }
    }
}

} // namespace

void hypercall_hold_begin_measured() { g_hold_since[arch::cpu_index()] = arch::rdtsc(); }

void hypercall_hold_end_measured(uint64_t nr) { note_hold(nr); }

bool hypercall_preempt_check() {
    hypercall_irq_window(); // a pending tick may make a reschedule due
    Thread& t = *current_thread();
    return sched_resched_due() || __atomic_load_n(&t.kill_requested, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&t.suspend_requested, __ATOMIC_ACQUIRE) || t.domain->dying();
}

void hypercall_irq_window() {
    hypercall_hold_end(current_thread()->user_frame().rax);
    arch::irq_window();
    hypercall_hold_begin();
}

void hypercall_continue_with(unsigned arg, uint64_t value) {
    arch::InterruptFrame& f = current_thread()->user_frame();
    switch (arg) {
    case 0: f.rdi = value; break;
    case 1: f.rsi = value; break;
    case 2: f.rdx = value; break;
    case 3: f.r10 = value; break;
    case 4: f.r8 = value; break;
    case 5: f.r9 = value; break;
    default: break;
    }
}

void hypercall_hold_report() {
    if (!g_hypercall_hold_stats) return;
    const uint64_t worst = __atomic_load_n(&g_worst_hold, __ATOMIC_RELAXED);
    const uint64_t hz = tsc_hz();
    log_info("longest hypercall hold with interrupts off: %lu cycles, %lu us (call 0x%lx)", worst,
             hz ? worst * 1'000'000 / hz : 0, __atomic_load_n(&g_worst_hold_nr, __ATOMIC_RELAXED));
}

} // namespace virtue
