// The CMOS real-time clock: the wall-clock time PV guests are given
// (shared_info's wallclock).
#pragma once

#include <stdint.h>

namespace virtue::arch {

// Seconds since the Unix epoch, read from the RTC (UTC, as QEMU and Xen
// hosts keep it). 0 if the RTC gives no consistent reading.
uint64_t rtc_unix_seconds();

} // namespace virtue::arch
