// What every group of checks gets: the start_info page the hypervisor handed
// over, and the role it says we have. A few answers must differ between
// Xen's dom0 (the oracle boots this kernel as dom0) and a domU (Virtue
// boots it as one); the checks that depend on the role name it.
#pragma once

#include <stdint.h>
#include <xen/xen.h>

#include "checks.hpp"

namespace pv {

struct Boot {
    const start_info* si;
    bool dom0; // SIF_INITDOMAIN
};

// The groups of checks (one file each), run in this order by main.cpp.
void run_basic_checks(Checks& c, const Boot& boot); // basic_checks.cpp: no MMU work

// x86 page-table entry bits used by the checks.
inline constexpr uint64_t PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_A = 1u << 5, PTE_D = 1u << 6;

// The kernel's own pseudo-physical layout (kernel.ld, head.S).
inline constexpr uint64_t VIRT_BASE = 0xffffffff80000000;

} // namespace pv
