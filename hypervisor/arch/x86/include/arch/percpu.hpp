// Per-CPU data, reached through %gs (GS base points at the CPU's PerCpu).
//
// Fields that assembly touches sit at fixed offsets pinned by static_assert.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/descriptors.hpp"
#include "arch/layout.h"
#include "lib/atomic.hpp"
#include "lib/lock_rank.hpp"
#include "lib/result.hpp"

namespace virtue::arch {

enum class CpuState : uint32_t { Offline, Booting, Online, Stopped };

struct alignas(64) PerCpu {
    PerCpu* self;            // %gs:0 — lets C++ find the structure
    uint32_t cpu_index;      // %gs:8 — dense index 0..n-1 (0 = boot CPU)
    uint32_t apic_id;        // %gs:12
    uint64_t stack_top;      // %gs:16 — kernel stack for entries from ring 3: the
                             // running thread's (the CPU's main stack at boot)
    uint64_t scratch;        // %gs:24 — entry-path scratch slot
    void* current_thread;    // %gs:32 — the scheduler's running thread (nullptr: idle)
    // Set by the CPU itself (Online: release, so that whoever sees it
    // online sees its set-up); read by others with acquire.
    Atomic<CpuState> state;
    uint32_t pad0;
    // Local APIC timer interrupts taken. Written only by this CPU's tick;
    // others read it relaxed (a statistic: it orders nothing).
    Atomic<uint64_t> ticks;
    uint64_t online_tsc;     // TSC when the CPU reported online
    uint32_t lapic_ticks_per_ms;
    // Nesting depth of fatal exceptions on this CPU, to stop recursive
    // dumps: only this CPU touches it, so relaxed suffices (atomic against
    // a fault that interrupts the increment).
    Atomic<uint32_t> in_exception;
    // Run once by this CPU's idle loop (smp_call): stored with release (the
    // caller's data is visible to fn), taken with an acq_rel exchange.
    Atomic<void (*)()> work;
    Tss tss;
    Gdt gdt;                        // built here at boot ...
    Gdt* live_gdt;                  // ... then loaded from a zero-padded block
    uint32_t ldt_entries;           // the LDT loaded now (load_ldt; 0: none)
#ifdef VIRTUE_DEBUG
    HeldLocks held_locks;           // the spinlocks this CPU holds (lock-rank checks)
#endif
};

static_assert(offsetof(PerCpu, self) == 0);
static_assert(offsetof(PerCpu, cpu_index) == 8);
static_assert(offsetof(PerCpu, apic_id) == 12);
static_assert(offsetof(PerCpu, stack_top) == 16);
static_assert(offsetof(PerCpu, scratch) == 24);
static_assert(offsetof(PerCpu, current_thread) == 32);

// All CPUs' structures (index = dense CPU index).
extern PerCpu g_percpu[MAX_CPUS];
extern uint32_t g_nr_cpus_possible; // from ACPI
// CPUs online: grows at boot only (each CPU adds itself with acq_rel once
// its set-up is done).
extern Atomic<uint32_t> g_nr_cpus_online;
// Acquire: a CPU counted is a CPU whose set-up (per-CPU data, scheduler)
// is visible.
inline uint32_t cpus_online() { return g_nr_cpus_online.load(MemOrder::Acquire); }

inline PerCpu& this_cpu() {
    PerCpu* p;
    asm volatile("mov %%gs:0, %0" : "=r"(p));
    return *p;
}

inline uint32_t cpu_index() {
    uint32_t i;
    asm volatile("movl %%gs:8, %0" : "=r"(i));
    return i;
}

// The running thread as the scheduler records it on each switch: one load,
// for the hot paths that ask for it many times a call.
inline void* current_thread_slot() {
    void* t;
    asm volatile("mov %%gs:32, %0" : "=r"(t));
    return t;
}
inline void set_current_thread_slot(void* t) { asm volatile("mov %0, %%gs:32" : : "r"(t) : "memory"); }

// Sets GS base for the calling CPU; must run before anything uses this_cpu().
void percpu_init_this_cpu(uint32_t index, uint32_t apic_id);

// Maps CPU `index`'s main and IST stacks (guard pages stay unmapped) and
// points its TSS at them. Until then the boot CPU uses static early stacks.
Status percpu_create_stacks(uint32_t index);

// Per-CPU stack layout inside [STACKS_VIRT_START + index * STACK_STRIDE, +STACK_STRIDE):
// guard | main (STACK_PAGES) | guard | NMI | guard | #DF | guard | #MC
inline constexpr uint64_t IST_PAGES = 2;
inline constexpr uint64_t stack_block(uint32_t index) { return STACKS_VIRT_START + index * STACK_STRIDE; }
inline constexpr uint64_t main_stack_bottom(uint32_t index) { return stack_block(index) + 0x1000; }
inline constexpr uint64_t main_stack_top(uint32_t index) {
    return main_stack_bottom(index) + STACK_PAGES * 0x1000;
}
inline constexpr uint64_t ist_stack_bottom(uint32_t index, unsigned ist) { // ist 1..3
    return main_stack_top(index) + 0x1000 + (ist - 1) * (IST_PAGES + 1) * 0x1000;
}
inline constexpr uint64_t ist_stack_top(uint32_t index, unsigned ist) {
    return ist_stack_bottom(index, ist) + IST_PAGES * 0x1000;
}
static_assert(ist_stack_top(0, 3) <= stack_block(0) + STACK_STRIDE);

} // namespace virtue::arch
