// The CPUID policy of PV guests (pv_cpuid.hpp).
#include "pv_cpuid.hpp"

#include <xen/arch-x86/cpuid.h>

namespace virtue::xen {
namespace {

constexpr uint32_t bit(unsigned n) { return 1u << n; }

// The highest basic and extended leaves a guest sees: leaves past these
// read as zero.
constexpr uint32_t kMaxBasic = 0xd, kMaxExtended = 0x80000008;

// Xen's leaves: 0x40000000 .. 0x40000005.
constexpr uint32_t kXenBase = XEN_CPUID_FIRST_LEAF, kXenLast = kXenBase + 5;
// The largest machine address a guest can be given: the frame table's
// 32-bit frame numbers (and grant v1, which Linux keeps at 44 bits or less).
constexpr uint32_t kMaxMachineAddressBits = 44;

// Leaf 1.
constexpr uint32_t kHide1Ecx = bit(2) /*DTES64*/ | bit(3) /*MONITOR*/ | bit(4) /*DS_CPL*/ | bit(5) /*VMX*/ |
                               bit(6) /*SMX*/ | bit(7) /*EIST*/ | bit(8) /*TM2*/ | bit(14) /*XTPR*/ |
                               bit(15) /*PDCM*/ | bit(17) /*PCID*/ | bit(18) /*DCA*/ | bit(21) /*X2APIC*/ |
                               bit(24) /*TSC_DEADLINE*/ | bit(26) /*XSAVE*/ | bit(27) /*OSXSAVE*/;
constexpr uint32_t kHide1Edx = bit(1) /*VME*/ | bit(3) /*PSE*/ | bit(7) /*MCE*/ | bit(12) /*MTRR*/ |
                               bit(13) /*PGE*/ | bit(14) /*MCA*/ | bit(17) /*PSE36*/ | bit(21) /*DS*/ |
                               bit(22) /*ACPI*/ | bit(29) /*TM*/ | bit(31) /*PBE*/;
constexpr uint32_t kSet1Ecx = bit(31); // HYPERVISOR
// Leaf 7 subleaf 0.
constexpr uint32_t kHide7Ebx = bit(0) /*FSGSBASE*/ | bit(1) /*TSC_ADJUST*/ | bit(2) /*SGX*/ | bit(7) /*SMEP*/ |
                               bit(10) /*INVPCID*/ | bit(12) /*PQM*/ | bit(14) /*MPX*/ | bit(15) /*PQE*/ |
                               bit(20) /*SMAP*/ | bit(25) /*PROC_TRACE*/;
constexpr uint32_t kHide7Ecx = bit(2) /*UMIP*/ | bit(3) /*PKU*/ | bit(4) /*OSPKE*/ | bit(7) /*CET_SS*/ |
                               bit(16) /*LA57*/ | bit(22) /*RDPID*/ | bit(30) /*SGX_LC*/ | bit(31) /*PKS*/;
constexpr uint32_t kHide7Edx = bit(20) /*CET_IBT*/ | bit(26) /*IBRS/IBPB*/ | bit(27) /*STIBP*/ |
                               bit(28) /*L1D_FLUSH*/ | bit(29) /*ARCH_CAPS*/ | bit(30) /*CORE_CAPS*/ |
                               bit(31) /*SSBD*/;
// Extended leaf 0x80000001.
constexpr uint32_t kHideExt1Ecx = bit(2) /*SVM*/ | bit(3) /*EXTAPIC*/ | bit(13) /*WDT*/ | bit(19) /*NODEID*/ |
                                  bit(23) /*PERFCTR_CORE*/ | bit(24) /*PERFCTR_NB*/ | bit(28) /*PERFCTR_LLC*/;
constexpr uint32_t kHideExt1Edx = bit(3) /*PSE*/ | bit(7) /*MCE*/ | bit(12) /*MTRR*/ | bit(13) /*PGE*/ |
                                  bit(14) /*MCA*/ | bit(17) /*PSE36*/ | bit(26) /*PAGE1GB*/ | bit(27) /*RDTSCP*/;

CpuidRegs xen_leaf(uint32_t leaf, HostCpuid host) {
    CpuidRegs r;
    switch (leaf - kXenBase) {
    case 0:
        r.eax = kXenLast;
        r.ebx = XEN_CPUID_SIGNATURE_EBX;
        r.ecx = XEN_CPUID_SIGNATURE_ECX;
        r.edx = XEN_CPUID_SIGNATURE_EDX;
        break;
    case 1: r.eax = (kXenVersionMajor << 16) | kXenVersionMinor; break;
    case 2:
        r.eax = 1;                 // hypercall pages
        r.ebx = kXenBase;          // MSR that would install one (not emulated: no hypercall page by MSR)
        r.ecx = XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD;
        break;
    case 5: {
        uint32_t bits = host(0x80000000, 0).eax >= 0x80000008 ? host(0x80000008, 0).eax & 0xff : 36;
        r.ebx = bits < kMaxMachineAddressBits ? bits : kMaxMachineAddressBits;
        break;
    }
    default: break; // 3 (TSC modes) and 4 (HVM features): nothing for PV
    }
    return r;
}

} // namespace

CpuidRegs pv_cpuid(uint32_t leaf, uint32_t subleaf, HostCpuid host) {
    if (leaf >= kXenBase && leaf <= kXenLast) return xen_leaf(leaf, host);
    const bool extended = leaf >= 0x80000000;
    const uint32_t host_max = host(extended ? 0x80000000 : 0, 0).eax;
    const uint32_t max = extended ? kMaxExtended : kMaxBasic;
    if (leaf > host_max || leaf > max) return CpuidRegs{}; // includes other hypervisors' leaves
    CpuidRegs r = host(leaf, subleaf);
    switch (leaf) {
    case 0: r.eax = host_max < kMaxBasic ? host_max : kMaxBasic; break;
    case 1:
        r.ecx = (r.ecx & ~kHide1Ecx) | kSet1Ecx;
        r.edx &= ~kHide1Edx;
        break;
    case 5: // MWAIT
    case 6: // thermal and power
    case 0xa: // the PMU
    case 0xd: // XSAVE state (XSAVE is hidden)
        r = CpuidRegs{};
        break;
    case 7:
        if (subleaf == 0) {
            r.eax = 0; // no further subleaves
            r.ebx &= ~kHide7Ebx;
            r.ecx &= ~kHide7Ecx;
            r.edx &= ~kHide7Edx;
        } else {
            r = CpuidRegs{};
        }
        break;
    case 0xb: r.ebx = 0; break; // topology: no processors at any level to find
    case 0x80000000: r.eax = host_max < kMaxExtended ? host_max : kMaxExtended; break;
    case 0x80000001:
        r.ecx &= ~kHideExt1Ecx;
        r.edx &= ~kHideExt1Edx;
        break;
    case 0x80000008: r.ebx = 0; break; // AMD's speculation-control and other MSR-backed features
    default: break;
    }
    return r;
}

} // namespace virtue::xen
