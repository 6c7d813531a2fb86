// Event upcalls: with an event callback registered, an event channel
// looped back to ourselves calls it as soon as events are unmasked;
// VIRQ_TIMER comes from the periodic timer every PV vCPU starts with (while
// it runs), and from a single-shot set_timer_op that SCHEDOP_block waits for
// (block enables events; it returns once one is pending and the callback
// has run).
#include <stdint.h>
#include <xen/errno.h>
#include <xen/callback.h>
#include <xen/event_channel.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

extern "C" void pv_event_entry();

namespace pv {
namespace {

long evtchn_op(int cmd, void* op) { return hypercall(__HYPERVISOR_event_channel_op, static_cast<uint64_t>(cmd), arg(op)); }

bool port_pending(uint32_t port) {
    return (shared_info_page()->evtchn_pending[port / 64] >> (port % 64)) & 1;
}
void clear_port(uint32_t port) {
    __atomic_and_fetch(&shared_info_page()->evtchn_pending[port / 64], ~(1ul << (port % 64)), __ATOMIC_SEQ_CST);
}

void events_on() {
    shared_info_page()->vcpu_info[0].evtchn_upcall_mask = 0;
    asm volatile("" ::: "memory");
    // An event that came while masked is taken now (as Linux's
    // xen_irq_enable does): a yield enters the hypervisor, which delivers
    // it on the way back.
    if (shared_info_page()->vcpu_info[0].evtchn_upcall_pending) (void)sched_op(SCHEDOP_yield, nullptr);
}
void events_off() {
    shared_info_page()->vcpu_info[0].evtchn_upcall_mask = 1;
    asm volatile("" ::: "memory");
}

// System time from vCPU 0's pvclock (ns).
uint64_t now_ns() {
    volatile vcpu_time_info& t = shared_info_page()->vcpu_info[0].time;
    for (;;) {
        const uint32_t version = t.version;
        asm volatile("" ::: "memory");
        const uint64_t stamp = t.tsc_timestamp, system = t.system_time;
        const uint32_t mul = t.tsc_to_system_mul;
        const int8_t shift = t.tsc_shift;
        uint32_t lo, hi;
        asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
        asm volatile("" ::: "memory");
        if ((version & 1) || version != t.version) continue;
        uint64_t delta = ((uint64_t{hi} << 32) | lo) - stamp;
        delta = shift >= 0 ? delta << shift : delta >> -shift;
        return system + static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * mul) >> 32);
    }
}

} // namespace

void run_event_checks(Checks& c) {
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = reinterpret_cast<uint64_t>(pv_event_entry);
    c.expect_eq("callback_register_event_returns_0", hypercall(__HYPERVISOR_callback_op, CALLBACKOP_register, arg(&cb)),
                0);

    // Loopback: an unbound port for ourselves, bound to from ourselves.
    evtchn_alloc_unbound_t a{};
    a.dom = DOMID_SELF;
    a.remote_dom = DOMID_SELF;
    long rc = evtchn_op(EVTCHNOP_alloc_unbound, &a);
    evtchn_bind_interdomain_t b{};
    b.remote_dom = DOMID_SELF;
    b.remote_port = a.port;
    if (rc == 0) rc = evtchn_op(EVTCHNOP_bind_interdomain, &b);
    c.expect_eq("evtchn_loopback_bound", rc, 0);
    if (rc == 0) {
        // The new binding may have left the first port pending: start clean.
        events_off();
        clear_port(a.port);
        clear_port(b.local_port);
        shared_info_page()->vcpu_info[0].evtchn_upcall_pending = 0;
        shared_info_page()->vcpu_info[0].evtchn_pending_sel = 0;
        g_upcalls = 0;
        g_upcall_sel = 0;
        g_upcall_ports = 0;
        evtchn_send_t send{b.local_port};
        rc = evtchn_op(EVTCHNOP_send, &send);
        const bool masked_quiet = g_upcalls == 0 && port_pending(a.port);
        events_on();
        const unsigned taken = g_upcalls;
        c.info("evtchn_loopback", "ports %u -> %u; upcalls while masked 0, after unmasking %u; selector 0x%lx",
               b.local_port, a.port, taken, g_upcall_sel);
        c.expect("evtchn_loopback_waits_while_masked", rc == 0 && masked_quiet, "send %ld, upcalls %u, pending %d", rc,
                 g_upcalls, port_pending(a.port));
        c.expect("evtchn_loopback_upcall", taken == 1 && ((g_upcall_ports >> a.port) & 1) && (g_upcall_sel & 1),
                 "%u upcalls, ports seen 0x%lx (want port %u), selector 0x%lx", taken, g_upcall_ports, a.port,
                 g_upcall_sel);
        c.expect("evtchn_upcall_frame_events_on", (g_upcall_rflags & 0x200) != 0, "interrupted rflags 0x%lx",
                 g_upcall_rflags);
        c.expect("evtchn_upcall_iret_unmasks", shared_info_page()->vcpu_info[0].evtchn_upcall_mask == 0, "mask %u",
                 shared_info_page()->vcpu_info[0].evtchn_upcall_mask);
        events_off();
        clear_port(a.port);
    }

    // VIRQ_TIMER: first the periodic timer we were started with.
    evtchn_bind_virq_t v{};
    v.virq = VIRQ_TIMER;
    v.vcpu = 0;
    rc = evtchn_op(EVTCHNOP_bind_virq, &v);
    c.expect_eq("bind_virq_timer_returns_0", rc, 0);
    if (rc != 0) return;
    // (Xen runs a vCPU's periodic timer only while the vCPU runs, so this
    // spins with events on rather than blocking.)
    g_upcalls = 0;
    g_upcall_ports = 0;
    uint64_t t0 = now_ns();
    events_on();
    while (g_upcalls < 2 && now_ns() - t0 < 200'000'000) asm volatile("pause");
    uint64_t waited = now_ns() - t0;
    events_off();
    c.info("periodic_timer", "%u upcalls in %lu us", g_upcalls, waited / 1000);
    c.expect("periodic_timer_ticks", g_upcalls >= 2 && ((g_upcall_ports >> v.port) & 1) && waited < 200'000'000,
             "%u upcalls in %lu us, ports seen 0x%lx (want port %u)", g_upcalls, waited / 1000, g_upcall_ports, v.port);
    clear_port(v.port);

    // Then a single-shot timer 5 ms ahead, with the periodic one stopped.
    rc = hypercall(__HYPERVISOR_vcpu_op, VCPUOP_stop_periodic_timer, 0, 0);
    c.expect_eq("stop_periodic_timer_returns_0", rc, 0);
    clear_port(v.port);
    g_upcalls = 0;
    g_upcall_ports = 0;
    t0 = now_ns();
    rc = hypercall(__HYPERVISOR_set_timer_op, t0 + 5'000'000);
    for (int i = 0; i < 3 && g_upcalls == 0; i++) (void)sched_op(SCHEDOP_block, nullptr);
    waited = now_ns() - t0;
    events_off();
    c.info("singleshot_timer", "set_timer_op %ld; fired after %lu us", rc, waited / 1000);
    c.expect("singleshot_timer_fires",
             rc == 0 && g_upcalls >= 1 && ((g_upcall_ports >> v.port) & 1) && waited >= 5'000'000 && waited < 100'000'000,
             "set_timer_op %ld, %u upcalls after %lu us, ports seen 0x%lx", rc, g_upcalls, waited / 1000, g_upcall_ports);
    clear_port(v.port);

    // The clock is kept current: after a block of 1.2 s (the vCPU off its
    // CPU meanwhile) the hypervisor has published it again.
    volatile vcpu_time_info& time = shared_info_page()->vcpu_info[0].time;
    const uint32_t before = time.version;
    const uint64_t stamp = time.tsc_timestamp;
    g_upcalls = 0;
    t0 = now_ns();
    rc = hypercall(__HYPERVISOR_set_timer_op, t0 + 1'200'000'000);
    for (int i = 0; i < 3 && g_upcalls == 0; i++) (void)sched_op(SCHEDOP_block, nullptr);
    events_off();
    clear_port(v.port);
    c.info("time_refresh", "version %u -> %u, tsc_timestamp %lu -> %lu after %lu ms", before, time.version, stamp,
           time.tsc_timestamp, (now_ns() - t0) / 1000000);
    c.expect("vcpu_time_info_kept_current", rc == 0 && time.version != before && time.tsc_timestamp != stamp &&
                                                !(time.version & 1),
             "version %u -> %u, tsc_timestamp %lu -> %lu", before, time.version, stamp, time.tsc_timestamp);

    // SCHEDOP_poll (Linux's PV spinlocks wait so, events masked): returns
    // at once for a pending port, masked or not; else at the timeout.
    evtchn_alloc_unbound_t pa{};
    pa.dom = DOMID_SELF;
    pa.remote_dom = DOMID_SELF;
    rc = evtchn_op(EVTCHNOP_alloc_unbound, &pa);
    c.expect_eq("poll_port_allocated", rc, 0);
    if (rc != 0) return;
    evtchn_port_t ports[2] = {pa.port, v.port};
    sched_poll_t poll{};
    set_xen_guest_handle(poll.ports, ports);
    poll.nr_ports = 2;
    __atomic_fetch_or(&shared_info_page()->evtchn_mask[pa.port / 64], 1ull << (pa.port % 64), __ATOMIC_SEQ_CST);
    __atomic_fetch_or(&shared_info_page()->evtchn_pending[pa.port / 64], 1ull << (pa.port % 64), __ATOMIC_SEQ_CST);
    t0 = now_ns();
    poll.timeout = t0 + 2'000'000'000;
    rc = sched_op(SCHEDOP_poll, &poll);
    waited = now_ns() - t0;
    c.expect("poll_pending_masked_port_returns_at_once", rc == 0 && waited < 1'000'000'000, "rc %ld after %lu us", rc, waited / 1000);
    clear_port(pa.port);
    t0 = now_ns();
    poll.timeout = t0 + 20'000'000;
    rc = sched_op(SCHEDOP_poll, &poll);
    waited = now_ns() - t0;
    c.expect("poll_times_out", rc == 0 && waited >= 20'000'000 && waited < 1'000'000'000, "rc %ld after %lu us", rc, waited / 1000);
    poll.nr_ports = 129;
    c.expect_eq("poll_too_many_ports_einval", sched_op(SCHEDOP_poll, &poll), -XEN_EINVAL);
    poll.nr_ports = 1;
    ports[0] = 4096;
    c.expect_eq("poll_port_beyond_abi_einval", sched_op(SCHEDOP_poll, &poll), -XEN_EINVAL);
    set_xen_guest_handle(poll.ports, reinterpret_cast<evtchn_port_t*>(0xffff800000000000ull));
    c.expect_eq("poll_unreadable_ports_efault", sched_op(SCHEDOP_poll, &poll), -XEN_EFAULT);
    c.expect_eq("poll_unreadable_struct_efault", sched_op(SCHEDOP_poll, reinterpret_cast<void*>(0xffff800000000000ull)),
                -XEN_EFAULT);
    evtchn_close_t cl{pa.port};
    (void)evtchn_op(EVTCHNOP_close, &cl);
    __atomic_fetch_and(&shared_info_page()->evtchn_mask[pa.port / 64], ~(1ull << (pa.port % 64)), __ATOMIC_SEQ_CST);

    // An IPI port (Linux binds four per vCPU): a send to it makes it
    // pending for its vCPU; a vCPU that does not exist is -ENOENT.
    evtchn_bind_ipi_t ipi{};
    ipi.vcpu = 0;
    rc = evtchn_op(EVTCHNOP_bind_ipi, &ipi);
    c.expect("bind_ipi_returns_a_port", rc == 0 && ipi.port != 0, "rc %ld port %u", rc, ipi.port);
    if (rc == 0) {
        events_off();
        clear_port(ipi.port);
        evtchn_send_t send{ipi.port};
        rc = evtchn_op(EVTCHNOP_send, &send);
        c.expect("ipi_send_makes_it_pending", rc == 0 && port_pending(ipi.port), "rc %ld pending %d", rc, port_pending(ipi.port));
        clear_port(ipi.port);
        shared_info_page()->vcpu_info[0].evtchn_upcall_pending = 0;
        evtchn_close_t ic{ipi.port};
        (void)evtchn_op(EVTCHNOP_close, &ic);
    }
    ipi.vcpu = 999;
    c.expect_eq("bind_ipi_no_such_vcpu_enoent", evtchn_op(EVTCHNOP_bind_ipi, &ipi), -XEN_ENOENT);
}

} // namespace pv
