// TSC frequency calibration against a reference timer.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"

namespace virtue::arch {

struct TscCalibration {
    uint64_t tsc_hz;
    const char* source; // "HPET" or "PIT"
};

// hpet_phys = 0 when ACPI reported no HPET: the PIT is used instead.
TscCalibration calibrate_tsc(uint64_t hpet_phys);

} // namespace virtue::arch
