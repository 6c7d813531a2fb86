// __HYPERVISOR_event_channel_op: Xen's EVTCHNOP_* on the one event-channel
// implementation (hypervisor/event/evtchn.hpp), with Xen's structs and
// errors. Ports made here belong to the port table (closed by
// EVTCHNOP_close or the domain's death); a domain sees their pending and
// mask bits in its shared_info page (native domains: mapped at
// VIRTUE_SHARED_INFO_VA).
//
// Only the 2-level ABI: EVTCHNOP_init_control (FIFO) returns -ENOSYS, which
// is how a Xen guest learns to use 2-level. A domain acts on its own ports
// (DOMID_SELF or its id); other domains' ports need privileges Virtue does
// not give through this family (-EPERM).
#include "xen-compat/hypercalls.hpp"

#include <xen/errno.h>
#include <xen/event_channel.h>

#include "event/evtchn.hpp"
#include "lib/object_errno.hpp"
#include "xen-compat/op_args.hpp"

namespace virtue::xen {
namespace {

// A port made for the Xen family: the table owns it (XenPort), so only
// its number (written into the op on success) may be used once made.
int64_t port_result(const Result<EventPort*>& r) { return r ? 0 : object_errno(r.error()); }

} // namespace

int64_t event_channel_op(uint64_t cmd, uint64_t arg) {
    Domain& d = self();
    switch (cmd) {
    case EVTCHNOP_alloc_unbound:
        return with_op<evtchn_alloc_unbound_t>(arg, [&](evtchn_alloc_unbound_t& op) -> int64_t {
            if (!names_self(op.dom)) return -XEN_EPERM;
            auto remote = domid_named(d, op.remote_dom);
            if (!remote) return -XEN_EINVAL;
            return port_result(evtchn_alloc_unbound(d, *remote, XenPort{&op.port}));
        });
    case EVTCHNOP_bind_interdomain:
        return with_op<evtchn_bind_interdomain_t>(arg, [&](evtchn_bind_interdomain_t& op) -> int64_t {
            auto remote = domid_named(d, op.remote_dom);
            if (!remote) return -XEN_EINVAL;
            if (op.remote_port == 0 || op.remote_port >= kMaxEventPorts) return -XEN_EINVAL;
            return port_result(evtchn_bind_interdomain(d, *remote, op.remote_port, XenPort{&op.local_port}));
        });
    case EVTCHNOP_bind_virq:
        return with_op<evtchn_bind_virq_t>(arg, [&](evtchn_bind_virq_t& op) -> int64_t {
            auto p = evtchn_bind_virq(d, op.virq, op.vcpu, XenPort{&op.port});
            if (!p && p.error() == Err::NotFound) return -XEN_ENOENT; // no such vCPU
            return port_result(p);
        });
    case EVTCHNOP_bind_ipi:
        return with_op<evtchn_bind_ipi_t>(arg, [&](evtchn_bind_ipi_t& op) -> int64_t {
            if (op.vcpu >= d.vcpus) return -XEN_ENOENT;
            return port_result(evtchn_bind_ipi(d, op.vcpu, XenPort{&op.port}));
        });
    case EVTCHNOP_close:
        return with_input<evtchn_close_t>(arg, [&](evtchn_close_t& op) -> int64_t {
            Status s = evtchn_close_port(d, op.port);
            return s ? 0 : -XEN_EINVAL;
        });
    case EVTCHNOP_send:
        return with_input<evtchn_send_t>(arg, [&](evtchn_send_t& op) -> int64_t {
            return evtchn_send_port(d, op.port) ? 0 : -XEN_EINVAL;
        });
    case EVTCHNOP_status:
        return with_op<evtchn_status_t>(arg, [&](evtchn_status_t& op) -> int64_t {
            if (!names_self(op.dom)) return -XEN_EPERM;
            auto st = evtchn_status_of(d, op.port);
            if (!st) return -XEN_EINVAL;
            op.status = static_cast<uint32_t>(st->state);
            op.vcpu = st->vcpu;
            op.u = {};
            if (st->state == PortState::Unbound) op.u.unbound.dom = st->remote_domid;
            if (st->state == PortState::Interdomain) {
                op.u.interdomain.dom = st->remote_domid;
                op.u.interdomain.port = st->remote_port;
            }
            if (st->state == PortState::Virq) op.u.virq = st->remote_port;
            return 0;
        });
    case EVTCHNOP_bind_vcpu:
        return with_input<evtchn_bind_vcpu_t>(arg, [&](evtchn_bind_vcpu_t& op) -> int64_t {
            Status s = evtchn_bind_vcpu(d, op.port, op.vcpu);
            if (s) return 0;
            return s.error() == Err::NotFound ? -XEN_ENOENT : -XEN_EINVAL;
        });
    case EVTCHNOP_unmask:
        return with_input<evtchn_unmask_t>(arg, [&](evtchn_unmask_t& op) -> int64_t {
            Status s = evtchn_unmask(d, op.port);
            return s ? 0 : -XEN_EINVAL;
        });
    default:
        // bind_pirq (no physical IRQs here), reset, and the FIFO ABI's
        // init_control / expand_array / set_priority.
        return -XEN_ENOSYS;
    }
}

} // namespace virtue::xen
