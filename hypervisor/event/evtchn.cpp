// Event channels (event/evtchn.hpp).
#include "event/evtchn.hpp"

#include "arch/cpu.hpp"
#include "arch/paging.hpp"
#include "domain/boot_config.hpp"
#include "domain/domain.hpp"
#include "event/two_level.hpp"
#include "mm/memory.hpp"

namespace virtue {
namespace {

static_assert(kMaxEventPorts <= two_level::kMaxPorts);
static_assert(kPortsPerBucket * sizeof(EventPort*) == PAGE_SIZE);

EventPort& port_of(KObject* o) { return kobject_cast<EventPort>(o); }

// Ready for a native wait: an event (consumed by the wait that reports
// it), or a change it must see (the port closed, or its peer went).
[[gnu::hot]] bool port_ready(Waitable& w, bool consume) {
    EventPort& p = *reinterpret_cast<EventPort*>(reinterpret_cast<char*>(&w) - offsetof(EventPort, events));
    if (p.closed) return true;
    if (p.hangup) return true; // level: until a new peer connects
    shared_info& s = *p.domain->events.shared; // exists: the port got a number
    return consume ? two_level::consume(s, p.port) : two_level::ready(s, p.port);
}

// Both tables locked (interrupts off), in the one order two event tables
// nest in: lower address first (lib/lock_rank.hpp).
class PairLock {
  public:
    PairLock(Domain& a, Domain& b) : guard_(a.events.lock, b.events.lock) {}

  private:
    IrqLockPairGuard guard_;
};

EventPort** slot_locked(EventTable& t, uint32_t port) {
    if (port == 0 || port >= kMaxEventPorts) return nullptr;
    EventPort** bucket = t.buckets[port / kPortsPerBucket];
    return bucket ? &bucket[port % kPortsPerBucket] : nullptr;
}

EventPort* lookup_locked(EventTable& t, uint32_t port) {
    EventPort** s = slot_locked(t, port);
    return s ? *s : nullptr;
}

// Gives p the lowest free port number of d (Xen does the same), taking the
// shared page and the bucket from the partition when first needed.
Status reserve_locked(Domain& d, EventPort& p, XenPort xen) {
    EventTable& t = d.events;
    // The shared page comes with the domain (native_builder.cpp): without
    // it the domain has no event channels.
    if (t.dead || !t.shared) return Err::NoSuchDomain;
    for (uint32_t port = 1; port < kMaxEventPorts; port++) {
        EventPort**& bucket = t.buckets[port / kPortsPerBucket];
        if (!bucket) {
            auto frame = domain_alloc_frame(d);
            if (!frame) return Err::NoMemory;
            bucket = arch::phys_ptr<EventPort*>(to_phys(*frame));
        }
        EventPort*& s = bucket[port % kPortsPerBucket];
        if (s) continue;
        s = &p;
        p.port = port;
        if (xen.number) {
            // Owned by the table from now on: a close by number may come as
            // soon as the lock is dropped.
            p.table_owned = true;
            *xen.number = port;
        }
        return Status::success();
    }
    return Err::NoSpace;
}

// The vcpu_info that q notifies (vCPUs beyond the legacy array: vCPU 0's).
vcpu_info& vcpu_info_of(EventPort& q) { return evtchn_vcpu_info(q.domain->events, q.notify_vcpu); }

[[gnu::hot]] void wake_waiters(EventPort& q) {
    IrqLockGuard guard(q.events.lock);
    if (q.events.waiters) q.events.wake_all_locked();
}

// Sets q pending and wakes its native waiters. Called with the table lock
// of the sending port's domain, which keeps q linked (and its domain and
// shared page alive).
[[gnu::hot]] void deliver(EventPort& q) {
    auto how = two_level::set_pending(*q.domain->events.shared, vcpu_info_of(q), q.port);
    if (how == two_level::Delivery::AlreadyPending) return;
    if (how == two_level::Delivery::Masked) {
        if (q.domain->events.masked_pending) q.domain->events.masked_pending(*q.domain);
        return;
    }
    if (how == two_level::Delivery::Upcall && q.domain->events.upcall) q.domain->events.upcall(*q.domain, q.notify_vcpu);
    wake_waiters(q);
}

// Marks p closed for its waiters (and wakes them).
void mark_closed(EventPort& p) {
    IrqLockGuard guard(p.events.lock);
    p.closed = true;
    p.events.wake_all_locked();
}

// The other end of p went: p waits for that domain again (as in Xen).
void hang_up_locked(EventPort& p, domid_t gone) {
    p.state = PortState::Unbound;
    p.peer = nullptr;
    p.remote_domid = gone;
    IrqLockGuard guard(p.events.lock);
    p.hangup = true;
    p.events.wake_all_locked();
}

// xen.h's classes: V (per vCPU) and G (global); the x86 arch virqs are
// global; 5, 14 and 15 are not defined.
bool is_defined_virq(uint32_t virq) { return virq < NR_VIRQS && virq != 5 && virq != 14 && virq != 15; }
bool is_global_virq(uint32_t virq) {
    return virq != VIRQ_TIMER && virq != VIRQ_DEBUG && virq != VIRQ_XENOPROF && virq != VIRQ_XENPMU;
}
// Where the port bound to (virq, vcpu) is recorded for O(1) raising: the
// global virqs and VIRQ_TIMER (the other per-vCPU virqs, which nothing
// raises yet, are found by a scan of the ports).
static_assert(kMaxEventPorts <= UINT16_MAX + 1u);
uint16_t* virq_slot(EventTable& t, uint32_t virq, uint32_t vcpu) {
    if (is_global_virq(virq)) return &t.global_virq[virq];
    return virq == VIRQ_TIMER ? &t.timer_virq[vcpu] : nullptr;
}

// The port bound to (virq, vcpu), or 0.
evtchn_port_t virq_port_locked(EventTable& t, uint32_t virq, uint32_t vcpu) {
    if (uint16_t* slot = virq_slot(t, virq, vcpu)) return *slot;
    for (evtchn_port_t n = 1; n < kMaxEventPorts; n++) {
        EventPort* q = lookup_locked(t, n);
        if (q && q->state == PortState::Virq && q->virq == virq && q->notify_vcpu == vcpu) return n;
    }
    return 0;
}

// Frees p's number, under its domain's table lock. Waits see `closed`
// before the number can be reused, so a stale waiter never consumes the
// next port's event.
void release_locked(EventPort& p) {
    EventTable& t = p.domain->events;
    mark_closed(p);
    if (EventPort** s = slot_locked(t, p.port); s && *s == &p) *s = nullptr;
    if (p.state == PortState::Virq) {
        // (a global virq's port may have moved vCPU: its slot does not depend on it)
        uint16_t* slot = virq_slot(t, p.virq, p.notify_vcpu);
        if (slot && *slot == p.port) *slot = 0;
    }
    two_level::clear(*t.shared, p.port);
    p.state = PortState::Closed;
}

void destroy_port(KObject* o) {
    EventPort& p = port_of(o);
    evtchn_close(p);
    __atomic_fetch_sub(&p.domain->overhead_bytes, heap_footprint(sizeof(EventPort)), __ATOMIC_RELAXED);
    p.~EventPort();
    (void)heap_free(&p);
}

Result<EventPort*> new_port(Domain& d) {
    auto mem = heap_alloc(sizeof(EventPort));
    if (!mem) return mem.error();
    EventPort* p = new (*mem) EventPort();
    p->domain = &d;
    p->kobj.destroy = destroy_port;
    p->events.ready = port_ready;
    __atomic_fetch_add(&d.overhead_bytes, heap_footprint(sizeof(EventPort)), __ATOMIC_RELAXED);
    return p;
}

// A port that never got a number (called without the table lock: the
// destroy path takes it).
void discard(EventPort* p) {
    p->closed = true;
    kobject_unref(p->kobj);
}

// A new port of d: under d's table lock, check() may refuse, then the port
// gets its number and init() sets it up; a refusal leaves nothing behind.
template <typename Check, typename Init>
Result<EventPort*> make_port(Domain& d, XenPort xen, Check check, Init init) {
    auto p = new_port(d);
    if (!p) return p.error();
    Status s = Status::success();
    {
        IrqLockGuard guard(d.events.lock);
        s = check();
        if (s) s = reserve_locked(d, **p, xen);
        if (s) init(**p);
    }
    if (!s) {
        discard(*p); // outside the lock: its destroy takes it
        return s.error();
    }
    return *p;
}

} // namespace

Result<EventPort*> evtchn_alloc_unbound(Domain& d, domid_t remote, XenPort xen) {
    return make_port(d, xen, [] { return Status::success(); }, [&](EventPort& p) {
        p.state = PortState::Unbound;
        p.remote_domid = remote;
    });
}

Result<EventPort*> evtchn_bind_interdomain(Domain& d, domid_t remote, evtchn_port_t remote_port, XenPort xen) {
    Domain* rd = &d;
    if (remote != d.id) {
        auto got = domain_get(remote);
        if (!got) return Err::NoSuchDomain;
        rd = *got;
    }
    Result<EventPort*> result = Err::InvalidArgument;
    if (auto p = new_port(d); !p) {
        result = p.error();
    } else {
        Status s = Status::success();
        {
            PairLock locks(d, *rd);
            EventPort* rp = lookup_locked(rd->events, remote_port);
            if (rd->events.dead) s = Err::NoSuchDomain;
            else if (!rp || rp->state != PortState::Unbound || rp->remote_domid != d.id) s = Err::InvalidArgument;
            else s = reserve_locked(d, **p, xen);
            if (s) {
                EventPort& lp = **p;
                lp.state = rp->state = PortState::Interdomain;
                {
                    IrqLockGuard w(rp->events.lock);
                    rp->hangup = false; // a new peer: the old one's hang-up is over
                }
                lp.peer = rp;
                rp->peer = &lp;
                lp.remote_domid = rd->id;
                rp->remote_domid = d.id;
                deliver(lp); // as Xen: the new end starts pending
            }
        }
        if (s) result = *p;
        else {
            discard(*p);
            result = s.error();
        }
    }
    if (rd != &d) domain_put(*rd);
    return result;
}

Result<EventPort*> evtchn_bind_ipi(Domain& d, uint32_t vcpu, XenPort xen) {
    return make_port(d, xen, [] { return Status::success(); }, [&](EventPort& p) {
        p.state = PortState::Ipi;
        p.notify_vcpu = vcpu;
    });
}

namespace {
// Under p's table lock (which also keeps a numbered port from being freed).
[[gnu::hot]] Status send_locked(EventPort& p) {
    switch (p.state) {
    case PortState::Interdomain:
        deliver(*p.peer);
        return Status::success();
    case PortState::Ipi:
        deliver(p);
        return Status::success();
    case PortState::Unbound:
        return Status::success(); // nobody listens yet: dropped, as in Xen
    case PortState::Virq:
    case PortState::Closed:
        break;
    }
    return Err::InvalidArgument;
}

EventPortStatus status_locked(EventPort& p) {
    EventPortStatus st{p.state, p.state == PortState::Closed ? 0 : p.port, DOMID_INVALID, 0, p.notify_vcpu};
    if (p.state == PortState::Unbound || p.state == PortState::Interdomain) st.remote_domid = p.remote_domid;
    if (p.state == PortState::Interdomain) st.remote_port = p.peer->port;
    if (p.state == PortState::Virq) st.remote_port = p.virq; // (the Xen family reports it as u.virq)
    return st;
}
} // namespace

[[gnu::hot]] Status evtchn_send(EventPort& p) {
    IrqLockGuard guard(p.domain->events.lock);
    return send_locked(p);
}

Status evtchn_send_port(Domain& d, evtchn_port_t port) {
    IrqLockGuard guard(d.events.lock);
    EventPort* p = lookup_locked(d.events, port);
    return p ? send_locked(*p) : Status(Err::InvalidArgument);
}

EventPortStatus evtchn_status(EventPort& p) {
    IrqLockGuard guard(p.domain->events.lock);
    return status_locked(p);
}

void evtchn_close(EventPort& p) {
    Domain& d = *p.domain;
    for (;;) {
        Domain* rd = nullptr;
        {
            IrqLockGuard guard(d.events.lock);
            if (p.state == PortState::Closed) break;
            if (p.state != PortState::Interdomain || p.peer->domain == &d) {
                if (p.state == PortState::Interdomain) hang_up_locked(*p.peer, d.id);
                release_locked(p);
                break;
            }
            // Both tables are needed, in their fixed order: hold the
            // peer's domain while the locks are retaken.
            rd = p.peer->domain;
            __atomic_fetch_add(&rd->refs, 1, __ATOMIC_ACQ_REL);
        }
        bool done = false;
        {
            PairLock locks(d, *rd);
            if (p.state != PortState::Interdomain || p.peer->domain != rd) {
                // Changed meanwhile (the peer closed first): look again.
            } else {
                hang_up_locked(*p.peer, d.id);
                release_locked(p);
                done = true;
            }
        }
        domain_put(*rd);
        if (done) break;
    }
    // Closed: release_locked (or discard, for a port that never had a
    // number) has marked it for its waiters.
}

Waitable& evtchn_waitable(EventPort& p) { return p.events; }

Result<EventPort*> evtchn_lookup(Domain& d, evtchn_port_t port) {
    IrqLockGuard guard(d.events.lock);
    EventPort* p = lookup_locked(d.events, port);
    if (!p || p->state == PortState::Closed || !kobject_try_ref(p->kobj)) return Err::InvalidArgument;
    return p;
}

namespace {
// Drops the table's reference of a Xen-family port once.
void disown(EventPort& p) {
    if (__atomic_exchange_n(&p.table_owned, false, __ATOMIC_ACQ_REL)) kobject_unref(p.kobj);
}
} // namespace

Status evtchn_close_port(Domain& d, evtchn_port_t port) {
    auto p = evtchn_lookup(d, port);
    if (!p) return p.error();
    evtchn_close(**p);
    disown(**p);
    kobject_unref((*p)->kobj);
    return Status::success();
}

Result<EventPort*> evtchn_bind_virq(Domain& d, uint32_t virq, uint32_t vcpu, XenPort xen) {
    if (!is_defined_virq(virq) || (is_global_virq(virq) && vcpu != 0)) return Err::InvalidArgument;
    if (vcpu >= d.vcpus) return Err::NotFound;
    static_assert(kMaxEventVcpus >= kBootMaxVcpus);
    // One port per (virq, vCPU); a global virq has one port whatever vCPU
    // it was moved to.
    auto unbound = [&]() -> Status { return virq_port_locked(d.events, virq, vcpu) ? Err::Exists : Status::success(); };
    return make_port(d, xen, unbound, [&](EventPort& p) {
        p.state = PortState::Virq;
        p.virq = virq;
        p.notify_vcpu = vcpu;
        if (uint16_t* slot = virq_slot(d.events, virq, vcpu)) *slot = static_cast<uint16_t>(p.port);
    });
}

namespace {
void raise_locked(Domain& d, uint32_t virq, uint32_t vcpu) {
    if (d.events.dead) return;
    const evtchn_port_t port = virq_port_locked(d.events, virq, vcpu);
    EventPort* p = port ? lookup_locked(d.events, port) : nullptr;
    if (p && p->state == PortState::Virq && p->virq == virq) deliver(*p); // under its table's lock, as a send
}
} // namespace

void evtchn_raise_virq(Domain& d, uint32_t virq) {
    if (!is_defined_virq(virq) || !is_global_virq(virq)) return; // per-vCPU virqs name their vCPU
    IrqLockGuard guard(d.events.lock);
    raise_locked(d, virq, 0);
}

void evtchn_raise_vcpu_virq(Domain& d, uint32_t virq, uint32_t vcpu) {
    if (!is_defined_virq(virq) || is_global_virq(virq) || vcpu >= kMaxEventVcpus) return;
    IrqLockGuard guard(d.events.lock);
    raise_locked(d, virq, vcpu);
}

Status evtchn_bind_vcpu(Domain& d, evtchn_port_t port, uint32_t vcpu) {
    if (vcpu >= d.vcpus) return Err::NotFound;
    IrqLockGuard guard(d.events.lock);
    EventPort* p = lookup_locked(d.events, port);
    if (!p) return Err::InvalidArgument;
    const bool movable = p->state == PortState::Unbound || p->state == PortState::Interdomain ||
                         (p->state == PortState::Virq && is_global_virq(p->virq));
    if (!movable) return Err::InvalidArgument;
    p->notify_vcpu = vcpu;
    return Status::success();
}

Status evtchn_unmask(Domain& d, evtchn_port_t port) {
    IrqLockGuard guard(d.events.lock);
    if (!slot_locked(d.events, port)) return Err::InvalidArgument;
    EventPort* p = lookup_locked(d.events, port);
    shared_info& s = *d.events.shared;
    if (!p) {
        two_level::test_and_clear(s.evtchn_mask, port); // a free number: just the bit
        return Status::success();
    }
    const auto how = two_level::unmask(s, vcpu_info_of(*p), port);
    if (how == two_level::Delivery::Upcall && d.events.upcall) d.events.upcall(d, p->notify_vcpu);
    if (how != two_level::Delivery::Idle) wake_waiters(*p);
    return Status::success();
}

Result<EventPortStatus> evtchn_status_of(Domain& d, evtchn_port_t port) {
    IrqLockGuard guard(d.events.lock);
    if (!slot_locked(d.events, port)) return Err::InvalidArgument;
    EventPort* p = lookup_locked(d.events, port);
    if (!p) return EventPortStatus{PortState::Closed, port, DOMID_INVALID, 0, 0};
    return status_locked(*p);
}

void evtchn_domain_dying(Domain& d) {
    {
        IrqLockGuard guard(d.events.lock);
        d.events.dead = true;
    }
    // Native ports stay objects while handles name them; their channels
    // close now; Xen-family ports also lose the table's reference.
    for (uint32_t port = 1; port < kMaxEventPorts; port++) {
        EventPort* p;
        {
            IrqLockGuard guard(d.events.lock);
            p = lookup_locked(d.events, port);
            if (p && !kobject_try_ref(p->kobj)) p = nullptr; // being destroyed: that closes it
        }
        if (!p) continue;
        evtchn_close(*p);
        disown(*p);
        kobject_unref(p->kobj);
    }
}

} // namespace virtue
