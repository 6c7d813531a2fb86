// The event-channel port state machine (hypervisor/event/evtchn.cpp), run
// for real on the host: domains, their partitions and the scheduler are the
// fakes of fakes/host_kernel.hpp; the 2-level bits land in each test
// domain's shared_info page as a guest would read them.
#include <boost/test/unit_test.hpp>

#include <map>
#include <random>
#include <vector>

#include "err_print.hpp"
#include "event/evtchn.hpp"
#include "event/two_level.hpp"
#include "arch/percpu.hpp"
#include "fakes/host_kernel.hpp"

// Inside the namespace: xen/event_channel.h has structs named like the
// functions under test (evtchn_status, evtchn_close, ...).
namespace virtue {

using host::TestDomain;

namespace {

bool pending(TestDomain& d, evtchn_port_t port) { return two_level::test(d.shared().evtchn_pending, port); }
bool masked(TestDomain& d, evtchn_port_t port) { return two_level::test(d.shared().evtchn_mask, port); }
void mask(TestDomain& d, evtchn_port_t port) { two_level::test_and_set(d.shared().evtchn_mask, port); }
// What the guest does when it has handled its upcall.
void acknowledge(TestDomain& d, uint32_t vcpu = 0) {
    d.shared().vcpu_info[vcpu].evtchn_upcall_pending = 0;
    d.shared().vcpu_info[vcpu].evtchn_pending_sel = 0;
}
bool upcall(TestDomain& d, uint32_t vcpu = 0) { return d.shared().vcpu_info[vcpu].evtchn_upcall_pending != 0; }
bool ready(EventPort& p) {
    Waitable& w = evtchn_waitable(p);
    return w.ready(w, false);
}
// A port made through the Xen family: the table owns it, the caller has
// its number.
evtchn_port_t xen_unbound(Domain& d, domid_t remote) {
    evtchn_port_t n = 0;
    auto p = evtchn_alloc_unbound(d, remote, XenPort{&n});
    BOOST_REQUIRE(p.ok());
    return n;
}
void drop(EventPort* p) { kobject_unref(p->kobj); } // a native port's last handle

// Every test: one running thread, interrupts on, no lock held, no
// reference or heap object left behind.
struct Fixture {
    Thread self;
    size_t heap_before = host::heap_live();
    Fixture() { host::sched_fake_reset(&self); }
    ~Fixture() {
        BOOST_TEST(arch::irqs_enabled());
        BOOST_TEST(arch::this_cpu().held_locks.depth() == 0u);
        BOOST_TEST(host::sched_fake().stuck == 0u);
        BOOST_TEST(host::sched_fake().handoff_refs == 0);
        BOOST_TEST(host::heap_live() == heap_before);
    }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(evtchn_states, Fixture)

BOOST_AUTO_TEST_CASE(unbound_then_interdomain_then_the_peer_closes) {
    TestDomain a(1), b(2), c(3);
    auto pa = evtchn_alloc_unbound(*a, 2);
    BOOST_REQUIRE(pa.ok());
    EventPortStatus st = evtchn_status(**pa);
    BOOST_TEST((st.state == PortState::Unbound));
    BOOST_TEST(st.port == 1u); // 0 is never used
    BOOST_TEST(st.remote_domid == 2u);

    // Only the named domain may connect, to a port that exists.
    BOOST_TEST(evtchn_bind_interdomain(*c, 1, (*pa)->port).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_bind_interdomain(*b, 1, 77).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_bind_interdomain(*b, 9, 1).error() == Err::NoSuchDomain);

    auto pb = evtchn_bind_interdomain(*b, 1, (*pa)->port);
    BOOST_REQUIRE(pb.ok());
    st = evtchn_status(**pb);
    BOOST_TEST((st.state == PortState::Interdomain));
    BOOST_TEST(st.remote_domid == 1u);
    BOOST_TEST(st.remote_port == (*pa)->port);
    st = evtchn_status(**pa);
    BOOST_TEST((st.state == PortState::Interdomain));
    BOOST_TEST(st.remote_domid == 2u);
    BOOST_TEST(st.remote_port == (*pb)->port);
    // The new end starts pending (as in Xen), the other does not.
    BOOST_TEST(pending(b, (*pb)->port));
    BOOST_TEST(upcall(b));
    BOOST_TEST(!pending(a, (*pa)->port));
    // Connected once: nobody else may connect.
    BOOST_TEST(evtchn_bind_interdomain(*c, 1, (*pa)->port).error() == Err::InvalidArgument);

    // B closes: A waits for B again and its waiters see the hang-up.
    BOOST_TEST(!ready(**pa));
    evtchn_close(**pb);
    BOOST_TEST((evtchn_status(**pb).state == PortState::Closed));
    BOOST_TEST(!pending(b, (*pb)->port)); // nothing left for the number's next user
    st = evtchn_status(**pa);
    BOOST_TEST((st.state == PortState::Unbound));
    BOOST_TEST(st.remote_domid == 2u);
    BOOST_TEST(ready(**pa));
    BOOST_TEST(ready(**pb)); // a closed port is always ready
    BOOST_TEST(evtchn_send(**pb).error() == Err::InvalidArgument);
    evtchn_close(**pb); // idempotent

    // B connects again: the hang-up is over.
    auto pb2 = evtchn_bind_interdomain(*b, 1, (*pa)->port);
    BOOST_REQUIRE(pb2.ok());
    BOOST_TEST((*pb2)->port == (*pb)->port); // the lowest free number
    BOOST_TEST(!ready(**pa));
    drop(*pb);
    drop(*pa); // the last handle closes the channel
    BOOST_TEST((evtchn_status(**pb2).state == PortState::Unbound));
    drop(*pb2);
    for (TestDomain* d : {&a, &b, &c}) BOOST_TEST((*d)->refs == 1u);
    BOOST_TEST((*a).overhead_bytes == 0u); // each port's memory is accounted to its domain, then given back
}

BOOST_AUTO_TEST_CASE(a_domain_may_connect_to_itself) {
    TestDomain a(1);
    evtchn_port_t unbound = xen_unbound(*a, 1);
    evtchn_port_t local = 0;
    BOOST_REQUIRE(evtchn_bind_interdomain(*a, 1, unbound, XenPort{&local}).ok());
    acknowledge(a);
    two_level::clear(a.shared(), local);
    BOOST_REQUIRE(evtchn_send_port(*a, unbound).ok());
    BOOST_TEST(pending(a, local));
    BOOST_TEST(!pending(a, unbound));
    BOOST_REQUIRE(evtchn_close_port(*a, local).ok());
    auto st = evtchn_status_of(*a, unbound);
    BOOST_REQUIRE(st.ok());
    BOOST_TEST((st->state == PortState::Unbound));
    BOOST_TEST(st->remote_domid == 1u);
    BOOST_TEST(evtchn_close_port(*a, local).error() == Err::InvalidArgument); // already closed
    evtchn_domain_dying(*a);
    BOOST_TEST(a->refs == 1u);
}

BOOST_AUTO_TEST_CASE(send_sets_pending_and_respects_the_mask) {
    TestDomain a(1), b(2);
    evtchn_port_t pa = xen_unbound(*a, 2);
    evtchn_port_t pb = 0;
    BOOST_REQUIRE(evtchn_bind_interdomain(*b, 1, pa, XenPort{&pb}).ok());
    two_level::clear(b.shared(), pb);
    acknowledge(b);

    // Unmasked: pending, its word selected, the upcall raised.
    BOOST_REQUIRE(evtchn_send_port(*a, pa).ok());
    BOOST_TEST(pending(b, pb));
    BOOST_TEST(b.shared().vcpu_info[0].evtchn_pending_sel == (xen_ulong_t{1} << (pb / two_level::kBitsPerWord)));
    BOOST_TEST(upcall(b));
    // Again, before the guest looked: merged, nothing new.
    acknowledge(b);
    BOOST_REQUIRE(evtchn_send_port(*a, pa).ok());
    BOOST_TEST(!upcall(b));

    // Masked: pending, but no upcall until the guest unmasks.
    two_level::clear(b.shared(), pb);
    mask(b, pb);
    BOOST_REQUIRE(evtchn_send_port(*a, pa).ok());
    BOOST_TEST(pending(b, pb));
    BOOST_TEST(!upcall(b));
    BOOST_REQUIRE(evtchn_unmask(*b, pb).ok());
    BOOST_TEST(!masked(b, pb));
    BOOST_TEST(upcall(b));
    // Unmasking what is not masked delivers nothing again.
    acknowledge(b);
    BOOST_REQUIRE(evtchn_unmask(*b, pb).ok());
    BOOST_TEST(!upcall(b));

    // Numbers: no port there, or beyond the table.
    BOOST_TEST(evtchn_send_port(*a, 5).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_send_port(*a, 0).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_send_port(*a, kMaxEventPorts).error() == Err::InvalidArgument);
    // A free number inside the table: only its mask bit changes.
    mask(b, 7);
    BOOST_REQUIRE(evtchn_unmask(*b, 7).ok());
    BOOST_TEST(!masked(b, 7));
    BOOST_TEST(evtchn_unmask(*b, kMaxEventPorts).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_unmask(*b, kPortsPerBucket + 1).error() == Err::InvalidArgument); // no bucket there yet

    // An unbound port drops what is sent on it.
    evtchn_port_t lone = xen_unbound(*a, 2);
    BOOST_REQUIRE(evtchn_send_port(*a, lone).ok());
    BOOST_TEST(!pending(a, lone));
    evtchn_domain_dying(*a);
    evtchn_domain_dying(*b);
}

BOOST_AUTO_TEST_CASE(a_native_waiter_is_woken_by_a_send_but_not_while_masked) {
    TestDomain a(1), b(2);
    auto pa = evtchn_alloc_unbound(*a, 2);
    BOOST_REQUIRE(pa.ok());
    auto pb = evtchn_bind_interdomain(*b, 1, (*pa)->port);
    BOOST_REQUIRE(pb.ok());
    Waitable* objs[] = {&evtchn_waitable(**pb)};
    // The new end's first event is there at once, and consumed by the wait.
    BOOST_TEST(wait_any(objs, 1, kNoDeadline) == 0);
    BOOST_TEST(!pending(b, (*pb)->port));

    // A sleeps-until-sent: the send (by a thread of A) wakes it.
    Thread sender;
    host::sched_fake().meanwhile.push_back([&] {
        host::AsThread as(sender);
        BOOST_TEST(evtchn_send(**pa).ok());
    });
    BOOST_TEST(wait_any(objs, 1, kNoDeadline) == 0);
    BOOST_TEST(host::sched_fake().woken.size() == 1u);
    BOOST_TEST(host::sched_fake().woken.at(0) == &self);
    BOOST_TEST(!pending(b, (*pb)->port));

    // Masked: the event waits in the page, the waiter sleeps on.
    mask(b, (*pb)->port);
    host::sched_fake().meanwhile.push_back([&] { BOOST_TEST(evtchn_send(**pa).ok()); });
    BOOST_TEST(wait_any(objs, 1, 1000) == kWaitTimedOut);
    BOOST_TEST(pending(b, (*pb)->port));
    // Unmasking delivers it to the next wait.
    BOOST_REQUIRE(evtchn_unmask(*b, (*pb)->port).ok());
    BOOST_TEST(wait_any(objs, 1, 0) == 0);

    // The peer closing wakes a sleeper too (hung up, level-triggered).
    Waitable* mine[] = {&evtchn_waitable(**pa)};
    host::sched_fake().meanwhile.push_back([&] { evtchn_close(**pb); });
    BOOST_TEST(wait_any(mine, 1, kNoDeadline) == 0);
    BOOST_TEST(wait_any(mine, 1, 0) == 0);
    drop(*pa);
    drop(*pb);
}

BOOST_AUTO_TEST_CASE(ipi_loops_back) {
    TestDomain a(1, 8, 2);
    evtchn_port_t n = 0;
    BOOST_REQUIRE(evtchn_bind_ipi(*a, 1, XenPort{&n}).ok());
    auto st = evtchn_status_of(*a, n);
    BOOST_REQUIRE(st.ok());
    BOOST_TEST((st->state == PortState::Ipi));
    BOOST_TEST(st->vcpu == 1u);
    BOOST_TEST(st->remote_domid == DOMID_INVALID);
    BOOST_REQUIRE(evtchn_send_port(*a, n).ok());
    BOOST_TEST(pending(a, n));
    BOOST_TEST(upcall(a, 1)); // the vCPU it names
    BOOST_TEST(!upcall(a, 0));
    // An IPI stays with its vCPU.
    BOOST_TEST(evtchn_bind_vcpu(*a, n, 0).error() == Err::InvalidArgument);
    BOOST_REQUIRE(evtchn_close_port(*a, n).ok());
    BOOST_TEST(!pending(a, n));
    evtchn_domain_dying(*a);
}

BOOST_AUTO_TEST_CASE(virqs_per_vcpu_and_global) {
    TestDomain a(1, 8, 2);
    evtchn_port_t timer0 = 0, timer1 = 0, console = 0;
    BOOST_REQUIRE(evtchn_bind_virq(*a, VIRQ_TIMER, 0, XenPort{&timer0}).ok());
    BOOST_REQUIRE(evtchn_bind_virq(*a, VIRQ_TIMER, 1, XenPort{&timer1}).ok());
    BOOST_REQUIRE(evtchn_bind_virq(*a, VIRQ_CONSOLE, 0, XenPort{&console}).ok());
    BOOST_TEST(timer0 != timer1);

    // One port per (virq, vCPU).
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_TIMER, 1).error() == Err::Exists);
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_CONSOLE, 0).error() == Err::Exists);
    // Unknown virqs, vCPUs; a global virq is bound on vCPU 0.
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_TIMER, 2).error() == Err::NotFound);
    BOOST_TEST(evtchn_bind_virq(*a, 5, 0).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_bind_virq(*a, NR_VIRQS, 0).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_DOM_EXC, 1).error() == Err::InvalidArgument);

    auto st = evtchn_status_of(*a, timer1);
    BOOST_REQUIRE(st.ok());
    BOOST_TEST((st->state == PortState::Virq));
    BOOST_TEST(st->remote_port == uint32_t{VIRQ_TIMER}); // the virq
    BOOST_TEST(st->vcpu == 1u);

    // Raising: the port of that vCPU, on that vCPU.
    evtchn_raise_vcpu_virq(*a, VIRQ_TIMER, 1);
    BOOST_TEST(pending(a, timer1));
    BOOST_TEST(!pending(a, timer0));
    BOOST_TEST(upcall(a, 1));
    BOOST_TEST(!upcall(a, 0));
    evtchn_raise_virq(*a, VIRQ_TIMER); // a per-vCPU virq names its vCPU: ignored
    BOOST_TEST(!pending(a, timer0));
    evtchn_raise_virq(*a, VIRQ_DOM_EXC); // bound nowhere: nothing
    evtchn_raise_virq(*a, VIRQ_CONSOLE);
    BOOST_TEST(pending(a, console));
    BOOST_TEST(upcall(a, 0));
    // A virq port is not sent on.
    BOOST_TEST(evtchn_send_port(*a, console).error() == Err::InvalidArgument);

    // A global virq may move to another vCPU, and stays the one port.
    BOOST_TEST(evtchn_bind_vcpu(*a, timer0, 1).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_bind_vcpu(*a, console, 2).error() == Err::NotFound);
    BOOST_TEST(evtchn_bind_vcpu(*a, 99, 1).error() == Err::InvalidArgument);
    BOOST_REQUIRE(evtchn_bind_vcpu(*a, console, 1).ok());
    acknowledge(a, 0);
    acknowledge(a, 1);
    two_level::clear(a.shared(), console);
    evtchn_raise_virq(*a, VIRQ_CONSOLE);
    BOOST_TEST(upcall(a, 1));
    BOOST_TEST(!upcall(a, 0));
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_CONSOLE, 0).error() == Err::Exists);

    // Closing frees the binding.
    BOOST_REQUIRE(evtchn_close_port(*a, console).ok());
    BOOST_REQUIRE(evtchn_close_port(*a, timer1).ok());
    evtchn_raise_vcpu_virq(*a, VIRQ_TIMER, 1); // bound nowhere now
    BOOST_TEST(!pending(a, timer1));
    evtchn_port_t again = 0;
    BOOST_REQUIRE(evtchn_bind_virq(*a, VIRQ_CONSOLE, 0, XenPort{&again}).ok());
    BOOST_TEST(again == std::min(console, timer1)); // the lowest free number
    // Other per-vCPU virqs are found without a slot.
    evtchn_port_t debug1 = 0;
    BOOST_REQUIRE(evtchn_bind_virq(*a, VIRQ_DEBUG, 1, XenPort{&debug1}).ok());
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_DEBUG, 1).error() == Err::Exists);
    evtchn_raise_vcpu_virq(*a, VIRQ_DEBUG, 1);
    BOOST_TEST(pending(a, debug1));
    evtchn_domain_dying(*a);
}

BOOST_AUTO_TEST_CASE(unbound_and_interdomain_ports_move_between_vcpus) {
    TestDomain a(1, 8, 2), b(2, 8, 2);
    evtchn_port_t pa = xen_unbound(*a, 2);
    BOOST_REQUIRE(evtchn_bind_vcpu(*a, pa, 1).ok());
    BOOST_TEST(evtchn_status_of(*a, pa)->vcpu == 1u);
    evtchn_port_t pb = 0;
    BOOST_REQUIRE(evtchn_bind_interdomain(*b, 1, pa, XenPort{&pb}).ok());
    BOOST_REQUIRE(evtchn_send_port(*b, pb).ok());
    BOOST_TEST(upcall(a, 1));
    BOOST_TEST(!upcall(a, 0));
    BOOST_REQUIRE(evtchn_bind_vcpu(*b, pb, 1).ok());
    evtchn_domain_dying(*b);
    evtchn_domain_dying(*a);
}

BOOST_AUTO_TEST_CASE(port_numbers_run_out) {
    TestDomain a(1, 3); // the shared page and both buckets
    std::vector<evtchn_port_t> ports;
    for (uint32_t i = 1; i < kMaxEventPorts; i++) ports.push_back(xen_unbound(*a, 2));
    BOOST_TEST(ports.front() == 1u);
    BOOST_TEST(ports.back() == kMaxEventPorts - 1);
    BOOST_TEST(a.frames_left() == 0u);
    const size_t heap_full = host::heap_live();
    BOOST_TEST(evtchn_alloc_unbound(*a, 2).error() == Err::NoSpace);
    BOOST_TEST(evtchn_bind_ipi(*a, 0).error() == Err::NoSpace);
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_TIMER, 0).error() == Err::NoSpace);
    BOOST_TEST(host::heap_live() == heap_full); // a refusal leaves nothing behind
    // A number freed is the next one given.
    BOOST_REQUIRE(evtchn_close_port(*a, 600).ok());
    BOOST_TEST(xen_unbound(*a, 2) == 600u);
    evtchn_domain_dying(*a);
}

BOOST_AUTO_TEST_CASE(tables_come_from_the_partition) {
    TestDomain a(1, 2); // the shared page and one bucket
    for (uint32_t i = 1; i < kPortsPerBucket; i++) xen_unbound(*a, 2);
    BOOST_TEST(evtchn_alloc_unbound(*a, 2).error() == Err::NoMemory); // the second bucket
    BOOST_TEST(evtchn_status_of(*a, kPortsPerBucket).error() == Err::InvalidArgument);
    evtchn_domain_dying(*a);

    TestDomain none(2, 4, 1, false); // no shared page: no event channels
    BOOST_TEST(evtchn_alloc_unbound(*none, 1).error() == Err::NoSuchDomain);
}

BOOST_AUTO_TEST_CASE(a_dying_table_closes_everything_and_refuses_new_ports) {
    TestDomain a(1), b(2);
    auto native = evtchn_alloc_unbound(*a, 2); // held by a handle
    BOOST_REQUIRE(native.ok());
    evtchn_port_t unbound_for_b = xen_unbound(*a, 2);
    evtchn_port_t pb = 0;
    BOOST_REQUIRE(evtchn_bind_interdomain(*b, 1, (*native)->port, XenPort{&pb}).ok());
    evtchn_port_t ipi = 0;
    BOOST_REQUIRE(evtchn_bind_ipi(*a, 0, XenPort{&ipi}).ok());

    evtchn_domain_dying(*a);
    // The peer waits for the dead domain, as in Xen.
    auto st = evtchn_status_of(*b, pb);
    BOOST_REQUIRE(st.ok());
    BOOST_TEST((st->state == PortState::Unbound));
    BOOST_TEST(st->remote_domid == 1u);
    BOOST_REQUIRE(evtchn_send_port(*b, pb).ok()); // dropped
    // No new ports, no connections to the old ones.
    BOOST_TEST(evtchn_alloc_unbound(*a, 2).error() == Err::NoSuchDomain);
    BOOST_TEST(evtchn_bind_ipi(*a, 0).error() == Err::NoSuchDomain);
    BOOST_TEST(evtchn_bind_virq(*a, VIRQ_TIMER, 0).error() == Err::NoSuchDomain);
    BOOST_TEST(evtchn_bind_interdomain(*b, 1, unbound_for_b).error() == Err::NoSuchDomain);
    BOOST_TEST(evtchn_bind_interdomain(*a, 2, pb).error() == Err::NoSuchDomain);
    // The native port lives on while its handle does: closed, ready, inert.
    BOOST_TEST((evtchn_status(**native).state == PortState::Closed));
    BOOST_TEST(ready(**native));
    BOOST_TEST(evtchn_send(**native).error() == Err::InvalidArgument);
    BOOST_TEST((evtchn_status_of(*a, ipi)->state == PortState::Closed));
    evtchn_raise_virq(*a, VIRQ_CONSOLE); // nothing to raise
    drop(*native);
    evtchn_domain_dying(*a); // twice: nothing left
    evtchn_domain_dying(*b);
    BOOST_TEST(a->refs == 1u);
    BOOST_TEST(b->refs == 1u);
}

BOOST_AUTO_TEST_CASE(status_of_numbers) {
    TestDomain a(1);
    BOOST_TEST(evtchn_status_of(*a, 1).error() == Err::InvalidArgument); // no table yet
    evtchn_port_t n = xen_unbound(*a, DOMID_SELF);
    auto st = evtchn_status_of(*a, n + 1); // free, inside the table
    BOOST_REQUIRE(st.ok());
    BOOST_TEST((st->state == PortState::Closed));
    BOOST_TEST(st->port == n + 1);
    BOOST_TEST(evtchn_status_of(*a, 0).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_status_of(*a, kMaxEventPorts).error() == Err::InvalidArgument);
    BOOST_TEST(evtchn_lookup(*a, n + 1).error() == Err::InvalidArgument);
    auto p = evtchn_lookup(*a, n);
    BOOST_REQUIRE(p.ok());
    BOOST_TEST((*p)->port == n);
    drop(*p);
    evtchn_domain_dying(*a);
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace virtue
