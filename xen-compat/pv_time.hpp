// PV guest time (xen/xen.h struct vcpu_time_info): the hypervisor publishes
// system time at a TSC value and the scale from TSC ticks to nanoseconds;
// the guest extrapolates with the TSC:
//   now = system_time + ((((tsc - tsc_timestamp) << shift) * mul) >> 32)
// (a negative shift shifts right). Linux reads these fields from its first
// instructions and divides by mul (pvclock_tsc_khz), so they are valid from
// the moment a vCPU exists. Updates follow the version protocol: odd while
// fields change, even once they are consistent.
#pragma once

#include <stdint.h>

#include <xen/xen.h>

namespace virtue::xen {

struct PvclockScale {
    uint32_t mul = 0; // in [2^31, 2^32): the most precise 32-bit fraction
    int8_t shift = 0;
};

// The scale for a TSC of `tsc_hz` ticks per second (> 0).
PvclockScale pvclock_scale(uint64_t tsc_hz);

// What a guest computes from a scale: nanoseconds for `delta` ticks.
uint64_t pvclock_ns(uint64_t delta, PvclockScale s);

// Publishes system time `system_ns` at TSC `tsc` with scale `s`, under the
// version protocol (the guest may read concurrently on another CPU).
void pvclock_publish(vcpu_time_info& t, uint64_t tsc, uint64_t system_ns, PvclockScale s);

} // namespace virtue::xen
