// The Xen hypercall family (BRIEF decision 3): Xen's numbers, arguments and
// structs (libxen-dev's public headers), on the same `syscall` entry as the
// native family, whose numbers start above Xen's.
//
// Implemented so far, for every domain kind: event_channel_op (the 2-level
// ABI; xen-compat/event_channel_op.cpp) and grant_table_op (v1 tables;
// xen-compat/grant_table_op.cpp), set_timer_op and vcpu_op's timer commands
// (xen-compat/vcpu_op.cpp). Every other Xen number returns -ENOSYS.
// The PV personality (start_info, the PV MMU, trap bouncing, grant maps by
// PTE address) comes with the PV-guest issues.
#pragma once

#include <stdint.h>

namespace virtue::xen {

// Runs Xen hypercall `nr` with its arguments (rdi, rsi, rdx, r10, r8);
// returns the value for rax, -ENOSYS for what is not implemented.
int64_t hypercall(uint64_t nr, const uint64_t args[5]);

// __HYPERVISOR_event_channel_op(cmd, arg).
int64_t event_channel_op(uint64_t cmd, uint64_t arg);

// __HYPERVISOR_set_timer_op(timeout) and __HYPERVISOR_vcpu_op(cmd, vcpuid,
// arg): the vCPU timers and VIRQ_TIMER (xen-compat/vcpu_op.cpp).
int64_t set_timer_op(uint64_t timeout);
int64_t vcpu_op(uint64_t cmd, uint64_t vcpuid, uint64_t arg);

// __HYPERVISOR_grant_table_op(cmd, uop, count).
int64_t grant_table_op(uint64_t cmd, uint64_t arg, uint64_t count);

} // namespace virtue::xen
