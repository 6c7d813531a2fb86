// Event channels: Xen's asynchronous notifications between and within
// domains, implemented once for both hypercall families.
//
// A port is a number in a domain's port space (1..kMaxEventPorts-1; 0 is
// never used, as in Xen) bound to an EventPort object. States follow Xen's
// EVTCHNSTAT_*: Unbound (waiting for one named domain to connect),
// Interdomain (connected to a port of another domain, or of the same one),
// Ipi (loops back to the domain itself), Closed. Pending and mask bits live
// in the domain's shared_info page (the 2-level ABI, event/two_level.hpp),
// so a Xen PV guest reads them unchanged; native domains name ports by
// handles and wait for them with wait_any (ready: pending and not masked,
// or closed, or hung up — level-triggered until a new peer connects).
//
// Permission checks happen at binding (who may connect to an unbound port);
// sending is a lock of the sender's own port table and a few atomic bit
// operations on the receiver's page.
//
// Lifetime: an EventPort is a KObject; it does not hold its domain, so its
// handles must stay in that domain (port handles carry no RIGHT_TRANSFER).
// A port created through the native family lives as long as its handles:
// the last one closes the channel. A port created through the Xen family
// is owned by the table (the creator's reference, `table_owned`) until
// EVTCHNOP_close or the domain's death. A closed port keeps its object while handles
// name it, answers every call with -EINVAL and is always ready to waits.
// When a domain dies every port of it closes: an interdomain peer goes back
// to Unbound (waiting for the dead domain, as in Xen) and its waiters wake
// ("hung up").
//
// Locking: each domain's EventTable::lock guards its port table and the
// state of its ports; binding or closing an interdomain channel takes both
// domains' locks, the lower address first (lib/lock_rank.hpp). A port's Waitable lock (native
// waiters, `hangup`) comes after them, then the CPU locks. Holding a
// domain's table lock keeps the peers of its ports (and their domains)
// alive: unlinking needs both locks.
#pragma once

#include <stdint.h>
#include <xen/event_channel.h>
#include <xen/xen.h>

#include "cap/handle_table.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "sched/wait.hpp"

namespace virtue {

struct Domain;

inline constexpr uint32_t kMaxEventPorts = 1024; // per domain, as Xen's default for guests
inline constexpr uint32_t kPortsPerBucket = 512;  // one partition frame of pointers

enum class PortState : uint8_t {
    Closed = EVTCHNSTAT_closed,
    Unbound = EVTCHNSTAT_unbound,
    Interdomain = EVTCHNSTAT_interdomain,
    Virq = EVTCHNSTAT_virq,
    Ipi = EVTCHNSTAT_ipi,
};

struct EventPort {
    KObject kobj{ObjType::EventChannel, 1, nullptr};
    Waitable events;           // native waiters
    Domain* domain = nullptr;
    evtchn_port_t port = 0;    // meaningful while not Closed
    PortState state = PortState::Closed;
    domid_t remote_domid = DOMID_INVALID; // Unbound: who may connect; Interdomain: the peer's domain
    EventPort* peer = nullptr;            // Interdomain
    uint32_t notify_vcpu = 0;
    uint32_t virq = 0;         // Virq
    bool table_owned = false;  // made through the Xen family: the table holds the creator's reference
    bool closed = false;       // under events.lock too: waits see it
    bool hangup = false;       // under events.lock: the peer went (until a new one connects)
};

// Per domain (Domain::events).
inline constexpr uint32_t kMaxEventVcpus = 64; // a domain's vCPUs (boot_config's limit)

struct EventTable {
    SpinLock lock{LockRank::EventTable};
    shared_info* shared = nullptr;                       // a partition frame, mapped by the domain builder
    EventPort** buckets[kMaxEventPorts / kPortsPerBucket] = {};
    bool dead = false;                                   // the domain is dying: no new ports
    uint16_t global_virq[NR_VIRQS] = {};                 // the port bound to each global virq (0: none)
    uint16_t timer_virq[kMaxEventVcpus] = {};            // each vCPU's VIRQ_TIMER port (0: none)
    // Set by a personality whose vCPUs take event upcalls (Xen PV): called,
    // under this table's or a sender's table lock, when a vCPU's upcall is
    // newly raised, so that it notices (it must not take an event lock).
    void (*upcall)(Domain& d, uint32_t vcpu) = nullptr;
    // Likewise, called when a masked port of the domain becomes pending: a
    // Xen vCPU may be waiting for it (SCHEDOP_poll), which no upcall tells.
    void (*masked_pending)(Domain& d) = nullptr;
    // Where each vCPU's vcpu_info lives once its guest moved it
    // (VCPUOP_register_vcpu_info, into a frame of its own memory): an array
    // of XEN_LEGACY_MAX_VCPUS the personality keeps (nullptr, or an entry
    // nullptr: in shared_info). Entries set once, under `lock`.
    vcpu_info** moved_vcpu_info = nullptr;
};

// The vcpu_info of `vcpu` (vCPUs past the legacy slots use vCPU 0's).
inline vcpu_info& evtchn_vcpu_info(EventTable& t, uint32_t vcpu) {
    if (vcpu >= XEN_LEGACY_MAX_VCPUS) vcpu = 0;
    if (t.moved_vcpu_info)
        if (vcpu_info* moved = __atomic_load_n(&t.moved_vcpu_info[vcpu], __ATOMIC_ACQUIRE)) return *moved;
    return t.shared->vcpu_info[vcpu];
}

// New ports of d, each returned with the caller's reference (the native
// family hands it to a handle). Err::NoSpace: d has kMaxEventPorts-1 ports;
// Err::NoMemory: no partition frame for the tables; Err::NoSuchDomain: d is dying.
// An unbound port that `remote` (a domid, possibly d's own) may connect to.
// `xen`: made through the Xen family, so the table owns the port (the
// creator's reference stays with it) from the moment it has a number; the
// caller gets the number in *number and must not touch the object.
struct XenPort {
    evtchn_port_t* number = nullptr; // nullptr: a native port (handles own it)
};
Result<EventPort*> evtchn_alloc_unbound(Domain& d, domid_t remote, XenPort xen = {});
// Connects to port `remote_port` of domain `remote` (d itself allowed),
// which must be unbound for d. Err::NoSuchDomain: no such live domain;
// Err::InvalidArgument: no such port, or not unbound for d. The new local
// end starts pending (as in Xen); the remote end does not.
Result<EventPort*> evtchn_bind_interdomain(Domain& d, domid_t remote, evtchn_port_t remote_port, XenPort xen = {});
// A port whose events loop back to d.
Result<EventPort*> evtchn_bind_ipi(Domain& d, uint32_t vcpu, XenPort xen = {});

// Sends on p (a port of d): Interdomain sets the peer pending, Ipi sets p
// itself pending, Unbound drops the event (as Xen). Err::InvalidArgument if
// p is closed.
Status evtchn_send(EventPort& p);
// The same by number (the Xen family): Err::InvalidArgument for a number
// that names no port of d.
Status evtchn_send_port(Domain& d, evtchn_port_t port);

struct EventPortStatus {
    PortState state;
    evtchn_port_t port;
    domid_t remote_domid;        // Unbound, Interdomain
    evtchn_port_t remote_port;   // Interdomain
    uint32_t vcpu;
};
EventPortStatus evtchn_status(EventPort& p);

// Closes the channel (idempotent): the peer goes back to Unbound and its
// waiters wake; this port's waiters wake too.
void evtchn_close(EventPort& p);

// ---- The Xen family (xen-compat/event_channel_op.cpp): ports by number ----
// Ports made with a XenPort are owned by the table (the creator's
// reference) until EVTCHNOP_close or the domain's death.
// A live port of d by number, with a reference. Err::InvalidArgument.
Result<EventPort*> evtchn_lookup(Domain& d, evtchn_port_t port);
// EVTCHNOP_close: Err::InvalidArgument if the number is not a port.
Status evtchn_close_port(Domain& d, evtchn_port_t port);
// EVTCHNOP_bind_virq: Err::InvalidArgument (virq unknown, or a global virq
// on a vCPU other than 0), Err::NotFound (no such vCPU), Err::Exists.
Result<EventPort*> evtchn_bind_virq(Domain& d, uint32_t virq, uint32_t vcpu, XenPort xen = {});
// EVTCHNOP_bind_vcpu: Err::NotFound (vCPU), Err::InvalidArgument (port,
// or a port that is not unbound, interdomain or a global virq).
Status evtchn_bind_vcpu(Domain& d, evtchn_port_t port, uint32_t vcpu);
// EVTCHNOP_unmask: Err::InvalidArgument beyond the table (a free number
// inside it just has its mask bit cleared, as in Xen).
Status evtchn_unmask(Domain& d, evtchn_port_t port);
// EVTCHNOP_status by number: a free number inside the table reads Closed;
// Err::InvalidArgument beyond it.
Result<EventPortStatus> evtchn_status_of(Domain& d, evtchn_port_t port);

// Raises global virq `virq` in d (its port bound with EVTCHNOP_bind_virq,
// if any): the port goes pending as a send would make it.
void evtchn_raise_virq(Domain& d, uint32_t virq);
// The same for per-vCPU virq `virq` (VIRQ_TIMER, ...) bound for `vcpu`.
void evtchn_raise_vcpu_virq(Domain& d, uint32_t virq, uint32_t vcpu);

// The Waitable of a port, for wait_any.
Waitable& evtchn_waitable(EventPort& p);

// Domain death: closes every port and refuses new ones (the tables and the
// shared page are partition frames: they go with the partition).
void evtchn_domain_dying(Domain& d);

} // namespace virtue
