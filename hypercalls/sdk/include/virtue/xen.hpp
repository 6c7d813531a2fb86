// The Xen hypercall family from a native domain (xen-compat/hypercalls.hpp):
// Xen's numbers and structs (libxen-dev's headers) on the same `syscall`.
// So far event_channel_op, with the 2-level bitmaps in the domain's
// shared_info page at VIRTUE_SHARED_INFO_VA.
//
//   evtchn_alloc_unbound_t op{DOMID_SELF, peer, 0};
//   virtue::xen::event_channel_op(EVTCHNOP_alloc_unbound, &op);  // op.port
//   shared_info* s = virtue::xen::shared();                       // s->evtchn_pending[...]
#pragma once

#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>

#include <virtue/native_abi.h>
#include <virtue/native_calls.hpp>

namespace virtue::xen {

// The same `syscall` stub as the native family's (Xen's numbers are below it).
inline int64_t hypercall2(uint64_t nr, uint64_t a0, uint64_t a1) { return sys::detail::syscall2(nr, a0, a1); }

// HYPERVISOR_event_channel_op(cmd, arg): 0 or a negated Xen errno.
inline int64_t event_channel_op(int cmd, void* arg) {
    return hypercall2(__HYPERVISOR_event_channel_op, static_cast<uint64_t>(cmd), reinterpret_cast<uint64_t>(arg));
}

// The domain's Xen struct shared_info (event channels' pending and mask bits).
inline shared_info* shared() { return reinterpret_cast<shared_info*>(VIRTUE_SHARED_INFO_VA); }

} // namespace virtue::xen
