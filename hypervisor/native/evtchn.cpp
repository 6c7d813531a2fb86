// Native calls on event channels: alloc_unbound, bind_interdomain,
// bind_ipi, send, status (the one implementation in event/evtchn.hpp).
#include "native_handlers.hpp"

namespace virtue::native {

static_assert(static_cast<uint32_t>(PortState::Interdomain) == VIRTUE_EVTCHN_INTERDOMAIN &&
              static_cast<uint32_t>(PortState::Unbound) == VIRTUE_EVTCHN_UNBOUND &&
              static_cast<uint32_t>(PortState::Ipi) == VIRTUE_EVTCHN_IPI &&
              static_cast<uint32_t>(PortState::Closed) == VIRTUE_EVTCHN_CLOSED && VIRTUE_DOMID_SELF == DOMID_SELF);

CallResult call_evtchn_alloc_unbound(uint64_t remote_domid) {
    auto remote = remote_domain(remote_domid);
    if (!remote) return Err::InvalidArgument;
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(evtchn_alloc_unbound(caller(), *remote), kPortRights);
}

CallResult call_evtchn_bind_interdomain(uint64_t remote_domid, uint64_t remote_port) {
    auto remote = remote_domain(remote_domid);
    if (!remote || remote_port == 0 || remote_port >= kMaxEventPorts) return Err::InvalidArgument;
    // Reserved first: a bind the table could not take would connect the
    // peer and at once hang it up.
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(evtchn_bind_interdomain(caller(), *remote, static_cast<evtchn_port_t>(remote_port)), kPortRights);
}

CallResult call_evtchn_bind_ipi() {
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(evtchn_bind_ipi(caller(), 0), kPortRights);
}

CallResult call_evtchn_send(PortRef& port) {
    if (!evtchn_send(*port)) return Err::InvalidArgument;
    return 0;
}

CallResult call_evtchn_status(PortRef& port, UserPtr<virtue_evtchn_status> status) {
    EventPortStatus st = evtchn_status(*port);
    virtue_evtchn_status out{st.port, static_cast<uint32_t>(st.state), st.remote_domid, st.remote_port, st.vcpu, 0};
    TRY(status.write(out));
    return 0;
}

} // namespace virtue::native
