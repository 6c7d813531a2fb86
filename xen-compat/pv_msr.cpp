// The MSRs of PV guest kernels (pv_msr.hpp).
#include "pv_msr.hpp"

#include "arch/layout.h"

namespace virtue::xen {
namespace {

enum : uint32_t {
    kTsc = 0x10,
    kApicBase = 0x1b,
    kUcodeRev = 0x8b,
    kPlatformInfo = 0xce,
    kMiscFeaturesEnables = 0x140,
    kMiscEnable = 0x1a0,
    kPat = 0x277,
    kEfer = 0xc0000080,
    kFsBase = 0xc0000100,
    kGsBase = 0xc0000101,
    kShadowGsBase = 0xc0000102,
    kAmdDeCfg = 0xc0011029,
};

constexpr uint64_t kEferVisible = (1u << 0) /*SCE*/ | (1u << 8) /*LME*/ | (1u << 10) /*LMA*/ | (1u << 11) /*NXE*/;
constexpr uint64_t kApicDefault = 0xfee00000 | (1u << 11) /*enabled*/;
constexpr uint64_t kApicBsp = 1u << 8;
// MISC_ENABLE: fast strings, and "no branch trace / no PEBS" (so Linux
// never looks for them).
constexpr uint64_t kMiscEnableValue = (1u << 0) | (1u << 11) | (1u << 12);

constexpr bool canonical(uint64_t v) {
    const uint64_t top = v >> 47;
    return top == 0 || top == 0x1ffff;
}

// A segment base a guest may hold: canonical and outside the hypervisor's
// range.
constexpr bool guest_base(uint64_t v) { return canonical(v) && !(v >= HV_RANGE_START && v < HV_RANGE_END); }

} // namespace

Result<uint64_t> pv_rdmsr(uint32_t msr, const PvMsrState& s, const PvMsrHost& host) {
    switch (msr) {
    case kFsBase: return s.fs_base;
    case kGsBase: return s.gs_base_kernel;
    case kShadowGsBase: return s.gs_base_user;
    case kEfer: return host.efer & kEferVisible;
    case kApicBase: return kApicDefault | (s.vcpu_id == 0 ? kApicBsp : 0);
    case kPat: return kXenPatValue;
    case kMiscEnable: return kMiscEnableValue;
    case kTsc: return host.tsc;
    case kUcodeRev:
    case kPlatformInfo: // no CPUID faulting to offer
    case kMiscFeaturesEnables:
    case kAmdDeCfg:
        return 0;
    default: return Err::InvalidArgument;
    }
}

Status pv_wrmsr(uint32_t msr, uint64_t value, PvMsrState& s, const PvMsrHost& host) {
    switch (msr) {
    case kFsBase:
    case kGsBase:
    case kShadowGsBase: {
        if (!guest_base(value)) return Err::InvalidArgument;
        uint64_t& base = msr == kFsBase ? s.fs_base : msr == kGsBase ? s.gs_base_kernel : s.gs_base_user;
        base = value;
        return Status::success();
    }
    // Writes that change nothing are accepted, as on hardware where the
    // guest could not change these either.
    case kEfer:
        return value == (host.efer & kEferVisible) ? Status::success() : Status(Err::InvalidArgument);
    case kApicBase:
        return value == (kApicDefault | (s.vcpu_id == 0 ? kApicBsp : 0)) ? Status::success()
                                                                          : Status(Err::InvalidArgument);
    case kPat: return value == kXenPatValue ? Status::success() : Status(Err::InvalidArgument);
    case kMiscEnable: return value == kMiscEnableValue ? Status::success() : Status(Err::InvalidArgument);
    // Linux writes 0 to the microcode revision before reading it back, and
    // clears feature-enable bits it never set.
    case kUcodeRev:
    case kMiscFeaturesEnables:
        return value == 0 ? Status::success() : Status(Err::InvalidArgument);
    default: return Err::InvalidArgument; // the TSC included
    }
}

} // namespace virtue::xen
