// Preemptible hypercalls (sched/scheduler.hpp: continuations) and the
// longest time a hypercall held its CPU with interrupts off.
#include <virtue/native_abi.h>

#include "arch/cpu.hpp"
#include "core/cmdline.hpp"
#include "arch/percpu.hpp"
#include "console/console.hpp"
#include "domain/domain.hpp"
#include "lib/format.hpp"
#include "sched/scheduler.hpp"
#include "time/clock.hpp"

namespace virtue {

bool g_hypercall_hold_stats = false;
VIRTUE_BOOLEAN_PARAM("hypercall-hold-stats", g_hypercall_hold_stats);

namespace {

// Per CPU: the TSC when the current hold began (entry or last check).
uint64_t g_hold_since[MAX_CPUS];
// The longest hold seen, and the call that held it; and the longest per
// call number (Xen numbers 0-63, native indices 0-63, then the two kinds
// of background step: kTeardownHoldNr, and anything else in the last slot
// (the release steps, kReleaseHoldNr)). Updated by compare-exchange
// (relaxed: statistics, read at the end of a run).
uint64_t g_worst_hold = 0;
uint64_t g_worst_hold_nr = 0;
constexpr unsigned kHoldSlots = 130;
constexpr unsigned kTeardownSlot = kHoldSlots - 2;
uint64_t g_worst_by_call[kHoldSlots];

unsigned hold_slot(uint64_t nr) {
    if (nr < 64) return static_cast<unsigned>(nr);
    if (nr >= VIRTUE_NATIVE_BASE && nr < VIRTUE_NATIVE_BASE + 64) return static_cast<unsigned>(64 + nr - VIRTUE_NATIVE_BASE);
    if (nr == kTeardownHoldNr) return kTeardownSlot;
    return kHoldSlots - 1;
}

// What a slot's holds were, as the report names them.
void describe_slot(unsigned slot, char* buf, size_t size) {
    if (slot == kTeardownSlot) format(buf, size, "tearing down dead domains");
    else if (slot == kHoldSlots - 1) format(buf, size, "releasing closed memory objects");
    else format(buf, size, "call 0x%lx", slot < 64 ? uint64_t{slot} : VIRTUE_NATIVE_BASE + (slot - 64));
}

bool raise_to(uint64_t& worst_slot, uint64_t held) {
    uint64_t worst = __atomic_load_n(&worst_slot, __ATOMIC_RELAXED);
    while (held > worst)
        if (__atomic_compare_exchange_n(&worst_slot, &worst, held, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return true;
    return false;
}

// How many holds there were, and how many lasted longer than 1 ms: under
// TCG the host sometimes stalls QEMU's vCPU for milliseconds at a random
// moment (the TSC runs on), so the longest hold alone can be the host's;
// the share above 1 ms tells a call that is long from one that was unlucky.
uint64_t g_holds = 0, g_holds_over_1ms = 0;
uint64_t g_over_by_call[kHoldSlots];

void note_hold(uint64_t nr) {
    const uint64_t held = arch::rdtsc() - g_hold_since[arch::cpu_index()];
    __atomic_fetch_add(&g_holds, 1, __ATOMIC_RELAXED);
    if (held > tsc_hz() / 1000) {
        __atomic_fetch_add(&g_holds_over_1ms, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&g_over_by_call[hold_slot(nr)], 1, __ATOMIC_RELAXED);
    }
    (void)raise_to(g_worst_by_call[hold_slot(nr)], held);
    if (raise_to(g_worst_hold, held)) __atomic_store_n(&g_worst_hold_nr, nr, __ATOMIC_RELAXED);
}

// Per CPU: whether a hold is being measured (between begin and end).
bool g_hold_active[MAX_CPUS];

} // namespace

void hypercall_hold_begin_measured() {
    const uint32_t cpu = arch::cpu_index();
    g_hold_since[cpu] = arch::rdtsc();
    g_hold_active[cpu] = true;
}

void hypercall_hold_end_measured(uint64_t nr) {
    const uint32_t cpu = arch::cpu_index();
    if (!g_hold_active[cpu]) return;
    note_hold(nr);
    g_hold_active[cpu] = false;
}

void hypercall_hold_switch_out(Thread* t) {
    const uint32_t cpu = arch::cpu_index();
    if (!g_hold_active[cpu]) return;
    // A call that blocks: its time up to here counts; it goes on counting
    // when the thread is switched back in (hypercall_hold_switch_in).
    note_hold(t ? t->user_frame().rax : kReleaseHoldNr);
    g_hold_active[cpu] = false;
    if (t) t->hold_paused = true;
}

void hypercall_hold_switch_in(Thread* t) {
    if (!t || !t->hold_paused) return;
    t->hold_paused = false;
    hypercall_hold_begin_measured();
}

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
    Thread& t = *current_thread();
    if (t.continue_into) { // a call inside a multicall: its entry's arguments
        if (arg < 6) t.continue_into[arg] = value;
        return;
    }
    arch::InterruptFrame& f = t.user_frame();
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

namespace {
void copy_args(uint64_t (&to)[6], const arch::InterruptFrame& f) {
    to[0] = f.rdi;
    to[1] = f.rsi;
    to[2] = f.rdx;
    to[3] = f.r10;
    to[4] = f.r8;
    to[5] = f.r9;
}
} // namespace

void hypercall_save_progress(const uint64_t (&value)[CallProgress::kValues], CallProgress::DropFn drop) {
    Thread& t = *current_thread();
    hypercall_drop_progress(t); // another call's, which this one replaces
    const arch::InterruptFrame& f = t.user_frame();
    CallProgress& p = t.progress;
    p.nr = f.rax;
    p.rip = f.rip; // the caller's next instruction: the same when the call runs again
    copy_args(p.args, f);
    for (unsigned i = 0; i < CallProgress::kValues; i++) p.value[i] = value[i];
    p.drop = drop;
    p.armed = true;
}

bool hypercall_take_progress(uint64_t (&value)[CallProgress::kValues]) {
    Thread& t = *current_thread();
    CallProgress& p = t.progress;
    if (!p.armed) return false;
    const arch::InterruptFrame& f = t.user_frame();
    uint64_t args[6];
    copy_args(args, f);
    bool same = p.nr == f.rax && p.rip == f.rip;
    for (unsigned i = 0; i < 6; i++) same = same && args[i] == p.args[i];
    if (!same) {
        // Another call's: that one will not be continued (its thread does
        // something else now).
        hypercall_drop_progress(t);
        return false;
    }
    for (unsigned i = 0; i < CallProgress::kValues; i++) value[i] = p.value[i];
    p.armed = false;
    return true;
}

void hypercall_drop_progress(Thread& t) {
    CallProgress& p = t.progress;
    if (!p.armed) return;
    p.armed = false;
    if (p.drop) p.drop(t, p.value);
}

void hypercall_hold_report() {
    if (!g_hypercall_hold_stats) return;
    const uint64_t worst = __atomic_load_n(&g_worst_hold, __ATOMIC_RELAXED);
    const uint64_t hz = tsc_hz();
    auto us = [hz](uint64_t cycles) { return hz ? cycles * 1'000'000 / hz : 0; };
    const uint64_t worst_nr = __atomic_load_n(&g_worst_hold_nr, __ATOMIC_RELAXED);
    char what[40];
    describe_slot(hold_slot(worst_nr), what, sizeof what);
    log_info("longest hypercall hold with interrupts off: %lu cycles, %lu us (%s)", worst, us(worst), what);
    log_info("hypercall holds: %lu, of which %lu longer than 1 ms", __atomic_load_n(&g_holds, __ATOMIC_RELAXED),
             __atomic_load_n(&g_holds_over_1ms, __ATOMIC_RELAXED));
    // The next calls down, so that one long self-test call does not hide
    // the others: the four longest holds of other call numbers.
    bool listed[kHoldSlots] = {};
    listed[hold_slot(worst_nr)] = true;
    for (unsigned rank = 0; rank < 4; rank++) {
        unsigned best = kHoldSlots;
        for (unsigned i = 0; i < kHoldSlots; i++)
            if (!listed[i] && g_worst_by_call[i] && (best == kHoldSlots || g_worst_by_call[i] > g_worst_by_call[best]))
                best = i;
        if (best == kHoldSlots) break;
        listed[best] = true;
        describe_slot(best, what, sizeof what);
        log_info("  next longest hold: %lu us (%s; %lu over 1 ms)", us(g_worst_by_call[best]), what, g_over_by_call[best]);
    }
}

} // namespace virtue
