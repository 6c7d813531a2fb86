// Exceptions of a PV vCPU (guest kernel or guest user mode in ring 3): the
// instructions the hypervisor emulates for a PV kernel (pv_priv_op.hpp):
// the forced-emulation CPUID (#UD), and from #GP the MSR accesses, port
// I/O (reads all-ones, writes dropped: no port is assigned to a domain
// yet) and cli/sti (the vCPU's event mask in vcpu_info).
// Bouncing other exceptions to the guest's own handlers (set_trap_table)
// is not implemented yet: any other exception crashes the domain alone.
#pragma once

#include "arch/descriptors.hpp"

namespace virtue::xen {

// True: handled (the frame now holds the state to resume). False: the
// caller crashes the domain.
bool pv_exception(arch::InterruptFrame& f);

} // namespace virtue::xen
