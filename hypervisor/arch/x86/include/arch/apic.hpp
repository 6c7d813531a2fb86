// Local APIC (xAPIC, MMIO) and I/O APIC.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"

namespace virtue::arch {

Status lapic_init_bsp(uint64_t lapic_phys); // maps the registers, enables the boot CPU's APIC
void lapic_init_this_cpu();                 // software-enable + LVT setup on the calling CPU
uint32_t lapic_id();
void lapic_eoi();

void lapic_send_init(uint32_t apic_id);
void lapic_send_startup(uint32_t apic_id, uint8_t page);
void lapic_send_ipi(uint32_t apic_id, uint8_t vector);
void lapic_send_nmi_all_but_self();

// Local APIC timer: count rate per millisecond (divide by 16) measured on
// this CPU against the TSC (running at tsc_hz), then a periodic interrupt
// at `hz`.
uint32_t lapic_timer_calibrate(uint64_t tsc_hz);
void lapic_timer_start_periodic(uint32_t ticks_per_ms, uint32_t hz, uint8_t vector);

Status ioapic_mask_all(uint64_t ioapic_phys);
void pic8259_disable();

} // namespace virtue::arch
