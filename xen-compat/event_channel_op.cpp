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
#include "xen_handlers.hpp"

#include <xen/event_channel.h>

#include "event/evtchn.hpp"
#include "xen-compat/op_args.hpp"

namespace virtue::xen {
namespace {

// A port made for the Xen family: the table owns it (XenPort), so only
// its number (written into the op on success) may be used once made.
Status port_result(const Result<EventPort*>& r) { return r ? Status::success() : Status(r.error()); }

// For the ops whose every failure is "not a port of yours": Xen's -EINVAL.
Status any_failure_is_invalid(Status s) { return s ? s : Status(Err::InvalidArgument); }

} // namespace

CallResult event_channel_op(uint64_t cmd, uint64_t arg) {
    Domain& d = self();
    switch (cmd) {
    case EVTCHNOP_alloc_unbound:
        return with_op<evtchn_alloc_unbound_t>(arg, [&](evtchn_alloc_unbound_t& op) -> Status {
            if (!names_self(op.dom)) return Err::NotPermitted;
            auto remote = domid_named(d, op.remote_dom);
            if (!remote) return Err::InvalidArgument;
            return port_result(evtchn_alloc_unbound(d, *remote, XenPort{&op.port}));
        });
    case EVTCHNOP_bind_interdomain:
        return with_op<evtchn_bind_interdomain_t>(arg, [&](evtchn_bind_interdomain_t& op) -> Status {
            auto remote = domid_named(d, op.remote_dom);
            if (!remote) return Err::InvalidArgument;
            if (op.remote_port == 0 || op.remote_port >= kMaxEventPorts) return Err::InvalidArgument;
            return port_result(evtchn_bind_interdomain(d, *remote, op.remote_port, XenPort{&op.local_port}));
        });
    case EVTCHNOP_bind_virq:
        return with_op<evtchn_bind_virq_t>(arg, [&](evtchn_bind_virq_t& op) -> Status {
            return port_result(evtchn_bind_virq(d, op.virq, op.vcpu, XenPort{&op.port}));
        });
    case EVTCHNOP_bind_ipi:
        return with_op<evtchn_bind_ipi_t>(arg, [&](evtchn_bind_ipi_t& op) -> Status {
            if (op.vcpu >= d.vcpus) return Err::NotFound; // no such vCPU
            return port_result(evtchn_bind_ipi(d, op.vcpu, XenPort{&op.port}));
        });
    case EVTCHNOP_close:
        return with_input<evtchn_close_t>(arg, [&](evtchn_close_t& op) -> Status {
            return any_failure_is_invalid(evtchn_close_port(d, op.port));
        });
    case EVTCHNOP_send:
        return with_input<evtchn_send_t>(arg, [&](evtchn_send_t& op) -> Status {
            return any_failure_is_invalid(evtchn_send_port(d, op.port));
        });
    case EVTCHNOP_status:
        return with_op<evtchn_status_t>(arg, [&](evtchn_status_t& op) -> Status {
            if (!names_self(op.dom)) return Err::NotPermitted;
            auto st = evtchn_status_of(d, op.port);
            if (!st) return Err::InvalidArgument;
            op.status = static_cast<uint32_t>(st->state);
            op.vcpu = st->vcpu;
            op.u = {};
            if (st->state == PortState::Unbound) op.u.unbound.dom = st->remote_domid;
            if (st->state == PortState::Interdomain) {
                op.u.interdomain.dom = st->remote_domid;
                op.u.interdomain.port = st->remote_port;
            }
            if (st->state == PortState::Virq) op.u.virq = st->remote_port;
            return Status::success();
        });
    case EVTCHNOP_bind_vcpu:
        return with_input<evtchn_bind_vcpu_t>(arg, [&](evtchn_bind_vcpu_t& op) -> Status {
            Status s = evtchn_bind_vcpu(d, op.port, op.vcpu);
            if (s || s.error() == Err::NotFound) return s; // NotFound: no such vCPU
            return Err::InvalidArgument;
        });
    case EVTCHNOP_unmask:
        return with_input<evtchn_unmask_t>(arg, [&](evtchn_unmask_t& op) -> Status {
            return any_failure_is_invalid(evtchn_unmask(d, op.port));
        });
    default:
        // bind_pirq (no physical IRQs here), reset, and the FIFO ABI's
        // init_control / expand_array / set_priority.
        return Err::NotSupported;
    }
}

} // namespace virtue::xen
