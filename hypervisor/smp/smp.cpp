// Bringing up the other CPUs (the x86 steps are arch/smp.hpp's), and what a
// CPU does when it has nothing else to do.
#include "smp/smp.hpp"

#include "arch/apic.hpp"
#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "arch/percpu.hpp"
#include "arch/smp.hpp"
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "core/panic.hpp"
#include "mm/memory.hpp"
#include "sched/scheduler.hpp"
#include "time/clock.hpp"
#include "time/timer_tick.hpp"

namespace virtue {
namespace {

uint32_t g_bsp_lapic_ticks_per_ms;

} // namespace

Status smp_enable_ring3_this_cpu() {
    auto gdt_area = alloc_frames(arch::GDT_AREA_ORDER, DOMID_XEN);
    if (!gdt_area) return gdt_area.error();
    arch::user_entry_init_this_cpu(to_phys(*gdt_area));
    return Status::success();
}

void ap_main(uint32_t index) {
    arch::PerCpu& cpu = arch::g_percpu[index];
    if (Status s = smp_enable_ring3_this_cpu(); !s) panic("CPU %u: no ring-3 support: %s", index, err_name(s.error()));
    sched_init_this_cpu();
    cpu.lapic_ticks_per_ms = g_bsp_lapic_ticks_per_ms;
    arch::lapic_timer_start_periodic(cpu.lapic_ticks_per_ms, TICK_HZ, arch::VECTOR_TIMER);
    cpu.online_tsc = arch::rdtsc();
    cpu.state.store(arch::CpuState::Online, MemOrder::Release);
    arch::g_nr_cpus_online.fetch_add(1, MemOrder::AcqRel);
    log_info("CPU %u online (APIC id %u)", index, cpu.apic_id);
    cpu_idle_loop();
}

void smp_boot_secondary_cpus(const CpuDescriptor* cpus, uint32_t count) {
    g_bsp_lapic_ticks_per_ms = arch::this_cpu().lapic_ticks_per_ms;
    arch::ap_trampoline_install();

    uint32_t bsp_apic = arch::lapic_id();
    uint32_t next_index = 1;
    for (uint32_t i = 0; i < count; i++) {
        if (cpus[i].apic_id == bsp_apic) continue;
        if (next_index >= MAX_CPUS) {
            log_warn("more than %u CPUs: APIC id %u left offline", MAX_CPUS, cpus[i].apic_id);
            continue;
        }
        // An index is never reused, even if its CPU fails: a late AP must not
        // collide with the next one.
        uint32_t index = next_index++;
        arch::PerCpu& cpu = arch::g_percpu[index];
        if (Status s = arch::percpu_create_stacks(index); !s) {
            log_error("CPU with APIC id %u: no memory for stacks (%s)", cpus[i].apic_id, err_name(s.error()));
            continue;
        }
        cpu.apic_id = cpus[i].apic_id;
        cpu.state.store(arch::CpuState::Booting, MemOrder::Relaxed); // the AP is not started yet
        arch::ap_trampoline_aim(index);

        arch::lapic_send_init(cpu.apic_id);
        udelay(10000);
        bool online = false;
        for (int attempt = 0; attempt < 2 && !online; attempt++) {
            arch::lapic_send_startup(cpu.apic_id, arch::ap_trampoline_page());
            // Generous under TCG: an AP can take tens of ms to come up.
            uint64_t deadline = system_time_ns() + (attempt == 0 ? 200 : 1000) * 1000000ull;
            while (system_time_ns() < deadline) {
                if (cpu.state.load(MemOrder::Acquire) == arch::CpuState::Online) {
                    online = true;
                    break;
                }
                arch::cpu_relax();
            }
        }
        if (!online) {
            log_error("CPU with APIC id %u did not come online", cpu.apic_id);
            cpu.state.store(arch::CpuState::Offline, MemOrder::Relaxed); // it never came: nothing to publish
            continue;
        }
    }
}

void smp_call(uint32_t cpu_index, void (*fn)()) {
    arch::PerCpu& cpu = arch::g_percpu[cpu_index];
    if (cpu.state.load(MemOrder::Acquire) != arch::CpuState::Online) return;
    cpu.work.store(fn, MemOrder::Release);
}

void cpu_idle_loop() {
    for (;;) {
        arch::irq_disable();
        arch::PerCpu& cpu = arch::this_cpu();
        void (*fn)() = cpu.work.exchange(nullptr, MemOrder::AcqRel);
        if (fn) {
            arch::irq_enable();
            fn();
            continue;
        }
        if (sched_idle()) { // runs threads until none is runnable here
            arch::irq_window(); // background work left: take pending interrupts, then go on
            continue;
        }
        arch::safe_halt(); // woken by the next timer tick at the latest
    }
}

} // namespace virtue
