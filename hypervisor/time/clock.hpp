// Monotonic system time in nanoseconds, derived from the TSC.
//
// The TSC is calibrated once at boot against the HPET (or the PIT). Time is
// scaled as ns = (tsc_delta * mul) >> 32, the same fixed-point form Xen's
// vcpu_time_info uses, so PV guests can later be given these parameters.
#pragma once

#include <stdint.h>

namespace virtue {

void clock_init(uint64_t tsc_hz, uint64_t tsc_at_entry);
bool clock_ready();
uint64_t tsc_hz();
uint64_t system_time_ns();               // since hypervisor entry
uint64_t tsc_to_ns(uint64_t tsc_delta);
void udelay(uint64_t us);                // busy wait (TSC); clock must be ready

} // namespace virtue
