// Starting application processors, the x86 part: a real-mode trampoline
// below 1 MiB (arch/x86/boot/ap_trampoline.S) and each CPU's own set-up on
// its stack. Which CPUs to start, how long to wait for them and what an AP
// does once it is up belong to smp/ (smp/smp.hpp).
#pragma once

#include <stdint.h>

namespace virtue::arch {

// Copies the trampoline to AP_TRAMPOLINE_PHYS (before the first start).
void ap_trampoline_install();

// Aims the trampoline at CPU `index` (its stacks made, its apic_id set).
// INIT then STARTUP with ap_trampoline_page() start it: it loads its per-CPU
// data, GDT, IDT and local APIC, and calls ap_main(index).
void ap_trampoline_aim(uint32_t index);
uint8_t ap_trampoline_page();

// Panic path: NMI every other CPU so it stops where it is.
void stop_other_cpus();

} // namespace virtue::arch

namespace virtue {
// An application processor's life after its x86 set-up (defined by smp/).
[[noreturn]] void ap_main(uint32_t index);
} // namespace virtue
