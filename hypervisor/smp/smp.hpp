// Multiprocessor bring-up and control.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"

namespace virtue {

struct CpuDescriptor {
    uint32_t apic_id;
};

// Starts every listed CPU except the caller (the boot CPU) with
// INIT-SIPI-SIPI; returns once each is online or has timed out.
void smp_boot_secondary_cpus(const CpuDescriptor* cpus, uint32_t count);

// Allocates this CPU's GDT area and enables ring 3 on it
// (arch::user_entry_init_this_cpu); Err::NoMemory if there is no block.
Status smp_enable_ring3_this_cpu();

// Asks an online CPU to run fn() from its idle loop (at its next wake-up,
// within one timer tick). Boot-time and self-test use only.
void smp_call(uint32_t cpu_index, void (*fn)());

// The idle loop of a CPU with nothing to do (halts until an interrupt).
[[noreturn]] void cpu_idle_loop();

} // namespace virtue
