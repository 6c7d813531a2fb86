// Xen-family dispatch (xen-compat/hypercalls.hpp).
#include "xen-compat/hypercalls.hpp"

#include <xen/errno.h>
#include <xen/xen.h>

namespace virtue::xen {

int64_t hypercall(uint64_t nr, const uint64_t args[5]) {
    switch (nr) {
    case __HYPERVISOR_event_channel_op: return event_channel_op(args[0], args[1]);
    case __HYPERVISOR_grant_table_op: return grant_table_op(args[0], args[1], args[2]);
    case __HYPERVISOR_set_timer_op: return set_timer_op(args[0]);
    case __HYPERVISOR_vcpu_op: return vcpu_op(args[0], args[1], args[2]);
    default: return -XEN_ENOSYS;
    }
}

} // namespace virtue::xen
