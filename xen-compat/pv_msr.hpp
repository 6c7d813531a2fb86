// The MSRs a PV guest kernel may read and write. The guest kernel runs in
// ring 3, so its rdmsr/wrmsr fault (#GP) and the hypervisor emulates the
// few that Linux touches: the segment bases (the GS base is written by
// the third instruction of a PV Linux kernel), EFER, the APIC base, PAT,
// MISC_ENABLE, the TSC, and the identification MSRs Linux probes. Anything
// else gets the #GP back, which Linux's safe MSR accessors expect. Values a
// guest may not have (a non-canonical base, one inside the hypervisor's
// range: the NMI entry tells the hypervisor's GS from a guest's by that
// range) are refused the same way.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"

namespace virtue::xen {

// The emulated state of one vCPU that these MSRs read and write.
struct PvMsrState {
    uint64_t fs_base = 0;
    uint64_t gs_base_kernel = 0; // GS_BASE while the guest kernel runs
    uint64_t gs_base_user = 0;   // SHADOW_GS_BASE (swapped in for guest user mode)
    uint32_t vcpu_id = 0;        // vCPU 0 is the bootstrap processor
};

// What the host offers that the answers depend on.
struct PvMsrHost {
    uint64_t efer = 0; // the hypervisor's EFER (SCE, LME, LMA, NXE are what a guest sees)
    uint64_t tsc = 0;  // the TSC now
};

inline constexpr uint64_t kXenPatValue = 0x0000050100070406; // what every CPU runs with

// rdmsr: the value, or Err::InvalidArgument for a #GP.
Result<uint64_t> pv_rdmsr(uint32_t msr, const PvMsrState& s, const PvMsrHost& host);
// wrmsr: Status::success() (state updated or the write ignored), or
// Err::InvalidArgument for a #GP (nothing changed).
Status pv_wrmsr(uint32_t msr, uint64_t value, PvMsrState& s, const PvMsrHost& host);

} // namespace virtue::xen
