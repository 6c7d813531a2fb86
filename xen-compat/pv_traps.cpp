// PV vCPU exceptions (pv_traps.hpp).
#include "pv_traps.hpp"

#include "arch/cpu.hpp"
#include "domain/domain.hpp"
#include "pv_cpuid.hpp"
#include "pv_priv_op.hpp"
#include "sched/scheduler.hpp"
#include "vm/user_memory.hpp"

namespace virtue::xen {
namespace {

constexpr uint64_t kUd = 6, kGp = 13;

CpuidRegs host_cpuid(uint32_t leaf, uint32_t subleaf) {
    const arch::CpuidResult r = arch::cpuid(leaf, subleaf);
    return CpuidRegs{r.eax, r.ebx, r.ecx, r.edx};
}

// Reads the bytes at the faulting instruction (fewer near the end of a
// mapping); 0 if none can be read.
size_t fetch(uint64_t rip, uint8_t (&bytes)[16]) {
    for (size_t n = sizeof bytes; n > 0; n--)
        if (copy_from_user(bytes, rip, n)) return n;
    return 0;
}

void set_low32(uint64_t& reg, uint32_t v) { reg = v; } // a 32-bit result zero-extends

} // namespace

bool pv_exception(arch::InterruptFrame& f) {
    const Thread& t = *current_thread();
    // Only the guest kernel's privileged instructions are emulated; in
    // guest user mode they fault as on hardware.
    if (t.guest_mode != GuestMode::PvKernel || (f.vector != kUd && f.vector != kGp)) return false;
    if (f.vector == kGp && f.error_code != 0) return false;
    uint8_t bytes[16];
    const size_t n = fetch(f.rip, bytes);
    auto insn = decode_priv_op(bytes, n);
    if (!insn) return false;
    // The forced CPUID arrives as #UD (its ud2); everything else as #GP.
    if ((insn->op == PrivOp::Cpuid) != (f.vector == kUd)) return false;
    switch (insn->op) {
    case PrivOp::Cpuid: {
        const CpuidRegs r = pv_cpuid(static_cast<uint32_t>(f.rax), static_cast<uint32_t>(f.rcx), host_cpuid);
        set_low32(f.rax, r.eax);
        set_low32(f.rbx, r.ebx);
        set_low32(f.rcx, r.ecx);
        set_low32(f.rdx, r.edx);
        break;
    }
    case PrivOp::Cli:
    case PrivOp::Sti: {
        Domain& d = *t.domain;
        if (!d.events.shared || t.xen_vcpu >= XEN_LEGACY_MAX_VCPUS) return false;
        __atomic_store_n(&d.events.shared->vcpu_info[t.xen_vcpu].evtchn_upcall_mask,
                         insn->op == PrivOp::Cli ? 1 : 0, __ATOMIC_RELEASE);
        break;
    }
    case PrivOp::In: {
        const uint64_t ones = insn->size == 4 ? 0xffffffffull : insn->size == 2 ? 0xffff : 0xff;
        if (insn->size == 4) f.rax = ones;
        else f.rax = (f.rax & ~ones) | ones;
        break;
    }
    case PrivOp::Out: break; // dropped: no port belongs to a domain
    default: return false;   // (MSRs, control registers, hlt, ...: not yet)
    }
    f.rip += insn->length;
    return true;
}

} // namespace virtue::xen
