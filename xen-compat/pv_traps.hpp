// Exceptions of a PV vCPU (guest kernel or guest user mode in ring 3).
// First the instructions the hypervisor emulates for a PV kernel
// (pv_priv_op.hpp): the forced-emulation CPUID (#UD), and from #GP port
// I/O (reads all-ones, writes dropped: no port is assigned to a domain
// yet) and cli/sti (the vCPU's event mask in vcpu_info). Every other
// exception is bounced to the handler the guest registered for its vector
// (set_trap_table), on Xen's 64-bit PV frame (pv_bounce.hpp); with none,
// or a frame that cannot be written, the domain crashes alone.
//
// Guest user mode: a PV vCPU runs its guest's user space on the user L4
// (new_user_baseptr) after an iret to a frame whose CS has RPL 3. Its
// `syscall` is the guest's own system call: bounced to the guest kernel's
// syscall callback on the kernel stack (stack_switch), in kernel mode and
// on the kernel L4; its exceptions likewise go to the kernel's handlers.
//
// The calls that go with it: set_trap_table, stack_switch, iret,
// set_callbacks and callback_op.
#pragma once

#include <stdint.h>

#include "arch/descriptors.hpp"
#include "domain/domain.hpp"

namespace virtue::xen {

// True: handled (the frame now holds the state to resume). False: the
// caller crashes the domain.
bool pv_exception(arch::InterruptFrame& f);

// On every way back to a PV vCPU's guest: an event upcall that is pending
// and not masked is delivered now, to the event callback (events masked
// while it runs, as in Xen).
void pv_before_guest(arch::InterruptFrame& f);

// The event table's upcall hook of PV domains: makes the vCPU notice.
void pv_upcall(Domain& d, uint32_t vcpu);
// Its masked_pending hook: every vCPU in SCHEDOP_poll looks again.
void pv_masked_pending(Domain& d);

// A `syscall` from guest user mode (the entry's PvUser case): bounced to the
// guest kernel, or the domain crashes (no callback or kernel stack).
void pv_user_syscall(arch::InterruptFrame& f);

} // namespace virtue::xen
