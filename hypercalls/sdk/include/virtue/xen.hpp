// The Xen hypercall family from a native domain (xen-compat/hypercalls.hpp):
// Xen's numbers and structs (libxen-dev's headers) on the same `syscall`.
// So far event_channel_op, with the 2-level bitmaps in the domain's
// shared_info page at VIRTUE_SHARED_INFO_VA, grant_table_op, with the
// domain's grant entries at VIRTUE_GRANT_TABLE_VA, and the vCPU timers
// (set_timer_op, vcpu_op) that raise VIRQ_TIMER.
//
//   evtchn_alloc_unbound_t op{DOMID_SELF, peer, 0};
//   virtue::xen::event_channel_op(EVTCHNOP_alloc_unbound, &op);  // op.port
//   shared_info* s = virtue::xen::shared();                       // s->evtchn_pending[...]
//
//   virtue::xen::grant_entry(ref)   // write frame (Memory::frame, sys::memory_frame) and domid,
//                                   // then flags (GTF_permit_access) last
//
// These return what a Xen guest sees, int64_t: >= 0, or a negated Xen errno
// (Result<>::from_raw turns it into a virtue::Result), because Xen's calls
// carry several operations and per-operation statuses in their structures,
// which a guest ported from Xen reads as Xen defines them.
#pragma once

#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/vcpu.h>

#include <virtue/native_abi.h>
#include <virtue/native_calls.hpp>

namespace virtue::xen {

// The same `syscall` stub as the native family's (Xen's numbers are below it).
inline int64_t hypercall2(uint64_t nr, uint64_t a0, uint64_t a1) { return raw::detail::syscall2(nr, a0, a1); }

// HYPERVISOR_event_channel_op(cmd, arg): 0 or a negated Xen errno.
inline int64_t event_channel_op(int cmd, void* arg) {
    return hypercall2(__HYPERVISOR_event_channel_op, static_cast<uint64_t>(cmd), reinterpret_cast<uint64_t>(arg));
}

inline int64_t hypercall3(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2) {
    return raw::detail::syscall3(nr, a0, a1, a2);
}

// HYPERVISOR_grant_table_op(cmd, ops, count): 0 (each op has its status) or
// a negated Xen errno.
inline int64_t grant_table_op(unsigned cmd, void* ops, unsigned count) {
    return hypercall3(__HYPERVISOR_grant_table_op, cmd, reinterpret_cast<uint64_t>(ops), count);
}

// HYPERVISOR_set_timer_op(timeout): the calling vCPU's single-shot timer
// (absolute system time in ns, sys::system_time's clock; 0 stops it).
// When it fires, VIRQ_TIMER goes pending on that vCPU. Boot thread i is
// vCPU i; a thread acts as the vCPU of the thread that created it.
inline int64_t set_timer_op(uint64_t timeout_ns) {
    return raw::detail::syscall1(__HYPERVISOR_set_timer_op, timeout_ns);
}

// HYPERVISOR_vcpu_op(cmd, vcpu, arg): VCPUOP_set_singleshot_timer /
// stop_singleshot_timer (own vCPU only), set_periodic_timer /
// stop_periodic_timer (any vCPU of the domain).
inline int64_t vcpu_op(int cmd, unsigned vcpu, void* arg) {
    return hypercall3(__HYPERVISOR_vcpu_op, static_cast<uint64_t>(cmd), vcpu, reinterpret_cast<uint64_t>(arg));
}

// HYPERVISOR_console_io(cmd, count, buffer): CONSOLEIO_write prints count
// bytes under the domain's name (0 on success); CONSOLEIO_read returns the
// number of input bytes read (control domains; 0 for others).
inline int64_t console_io(int cmd, uint64_t count, const void* buffer) {
    return hypercall3(__HYPERVISOR_console_io, static_cast<uint64_t>(cmd), count, reinterpret_cast<uint64_t>(buffer));
}

// HYPERVISOR_memory_op(cmd, arg): XENMEM_current/maximum_reservation (arg:
// a domid_t), maximum_ram_page, machphys_mapping.
inline int64_t memory_op(int cmd, void* arg) {
    return hypercall2(__HYPERVISOR_memory_op, static_cast<uint64_t>(cmd), reinterpret_cast<uint64_t>(arg));
}

// HYPERVISOR_xen_version(cmd, arg): XENVER_version returns (major << 16) |
// minor; the other commands write their xen/version.h struct at arg.
inline int64_t xen_version(int cmd, void* arg) {
    return hypercall2(__HYPERVISOR_xen_version, static_cast<uint64_t>(cmd), reinterpret_cast<uint64_t>(arg));
}

// Entry `ref` of the domain's grant table (its page must exist: see
// GNTTABOP_setup_table / query_size). Write frame and domid first, then
// flags with a release store; end a grant by compare-exchanging flags to 0
// while neither GTF_reading nor GTF_writing is set.
inline grant_entry_v1_t& grant_entry(grant_ref_t ref) {
    return reinterpret_cast<grant_entry_v1_t*>(VIRTUE_GRANT_TABLE_VA)[ref];
}

// The domain's Xen struct shared_info (event channels' pending and mask bits).
inline shared_info* shared() { return reinterpret_cast<shared_info*>(VIRTUE_SHARED_INFO_VA); }

} // namespace virtue::xen
