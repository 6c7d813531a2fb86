// The CPUID a PV guest kernel sees: the forced-emulation prefix
// (ud2; "xen"; cpuid) lands in the hypervisor, which answers from this
// policy. The host's leaves, with what a PV guest must not use hidden
// (features that need ring 0 or that the hypervisor does not emulate:
// page-size and global bits, virtualisation, PCID, x2APIC, SMEP/SMAP,
// FSGSBASE, XSAVE, RDTSCP, the speculation-control MSRs, the PMU, MCE,
// MWAIT), the "running under a hypervisor" bit set, and Xen's own leaves
// at 0x40000000 ("XenVMMXenVMM"), which is how Linux recognises Xen PV.
// The policy follows Xen's for PV guests, trimmed where an instruction or
// MSR it would need is not emulated; docs/architecture.md lists it.
#pragma once

#include <stdint.h>

namespace virtue::xen {

struct CpuidRegs {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// The host's CPUID (the real instruction in the hypervisor; a table in
// host unit tests).
using HostCpuid = CpuidRegs (*)(uint32_t leaf, uint32_t subleaf);

// The version the Xen leaves and xen_version report: the Xen ABI this
// personality follows.
inline constexpr uint32_t kXenVersionMajor = 4, kXenVersionMinor = 17;

CpuidRegs pv_cpuid(uint32_t leaf, uint32_t subleaf, HostCpuid host);

} // namespace virtue::xen
