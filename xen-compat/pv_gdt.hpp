// A PV vCPU's own GDT (pv_gdt.cpp): the switch hooks that put it into the
// CPU's GDT, and the check of the selectors a guest returns to.
#pragma once

#include <stdint.h>

#include "domain/domain.hpp"
#include "domain/thread.hpp"
#include "lib/result.hpp"

namespace virtue::xen {

struct PvVcpu;

// A selector the guest gives for its own kernel (a stack or code selector
// of its GDT): RPL 0, as Linux writes them, raised to the guest kernel's
// RPL 3, as Xen does.
constexpr uint64_t pv_guest_rpl(uint64_t sel) { return (sel & 3) == 0 ? sel | 3 : sel; }

// For Thread::switch_ops of every PV vCPU.
const ThreadSwitchOps& pv_switch_ops();

// Whether the guest may be resumed with these CS and SS: Xen's flat ring-3
// selectors, or present DPL-3 64-bit code / writable data descriptors of
// the vCPU's own GDT (anything else would fault the hypervisor's iretq).
bool pv_gdt_selectors_ok(Thread& t, uint64_t cs, uint64_t ss);
inline bool pv_selectors_ok(Thread& t, uint64_t cs, uint64_t ss) {
    // Xen's flat ring-3 selectors (FLAT_RING3_CS64, FLAT_RING3_SS64), the
    // common case, without a call; the rest look at the GDT.
    if ((cs & 0xffff) == 0xe033 && (ss & 0xffff) == 0xe02b) return true;
    return pv_gdt_selectors_ok(t, cs, ss);
}

// The same for a vCPU not running yet (VCPUOP_initialise), from the
// validated frames of its GDT.
bool pv_initial_selectors_ok(const PvVcpu& v, uint64_t cs, uint64_t ss);

// The fault the CPU's iretq raises for a CS/SS pv_selectors_ok refuses:
// #NP if the descriptor (CS checked first) is not present, else #GP; the
// error code is the selector without its RPL.
struct SelectorFault {
    uint64_t vector, error;
};
SelectorFault pv_selector_fault(Thread& t, uint64_t cs, uint64_t ss);

// Makes `frames` (up to 14, `entries` descriptors) vCPU v's GDT, dropping
// its old one (set_gdt, VCPUOP_initialise); running_here: v runs on this
// CPU now, whose copy is updated. Err::InvalidArgument.
Status pv_take_gdt(Domain& d, PvVcpu& v, const uint64_t* frames, uint64_t entries, bool running_here);

// SEGBASE_GS_USER_SEL from v's guest kernel, running here: `sel` (null if
// it does not load from v's GDT or LDT) goes into GS, the current mode's
// GS base stays, and the guest user's GS base becomes the descriptor's.
void pv_load_user_gs_selector(Thread& t, PvVcpu& v, uint16_t sel);

// After MMUEXT_SET_LDT (PvBasePtrs::reload_ldt) by v, which runs on this
// CPU: its new LDT becomes this CPU's.
void pv_reload_ldt(PvVcpu& v);

} // namespace virtue::xen
