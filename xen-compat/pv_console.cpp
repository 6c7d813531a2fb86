// The PV console backend (pv_domain.hpp): what xenconsoled is for a Xen
// domU, in the hypervisor. The guest (Linux's hvc0) writes out[] and
// notifies its console port; every 10 ms the hypervisor drains what was
// published to the console under the domain's name and, if the domain
// reads the console's input (`console-input`), puts what was typed since
// into in[] (only as much as there is room for: the rest waits in the
// UART); if it moved anything, it notifies the guest, so that a writer
// waiting for room goes on and a reader finds its input.
#include "arch/paging.hpp"
#include "console/console.hpp"
#include "event/evtchn.hpp"
#include "pv_console_ring.hpp"
#include "pv_domain.hpp"
#include "time/clock.hpp"

namespace virtue::xen {
namespace {

constexpr uint64_t kDrainPeriodNs = 10'000'000;
constexpr size_t kMaxPerTick = 4096; // bytes a tick takes at most (the rest waits for the next)

void drain(Timer& t) {
    Domain& d = *t.domain;
    PvDomain* pv = pv_domain(d);
    if (!pv || !pv->console || d.dying()) return;
    char buf[256];
    size_t taken = 0;
    while (taken < kMaxPerTick) {
        auto n = console_ring_drain(*pv->console, buf, sizeof buf);
        if (!n || *n == 0) break; // (impossible indices: nothing is taken)
        domain_console_put(d, buf, *n);
        taken += *n;
    }
    size_t given = 0;
    if (domain_reads_console_input(d)) {
        auto room = console_ring_room(*pv->console);
        if (room && *room) {
            char in[64];
            const size_t n = console_read_input(in, *room < sizeof in ? *room : sizeof in);
            if (n) {
                auto fed = console_ring_feed(*pv->console, in, n);
                given = fed ? *fed : 0;
            }
        }
    }
    if (taken || given) (void)evtchn_send_port(d, pv->console_port);
}

} // namespace

Result<uint32_t> pv_console_start(Domain& d, PvDomain& pv, Mfn ring) {
    // The hypervisor writes the ring's indexes: the frame never becomes a
    // page table (whose entries would then be the guest's to choose).
    TRY(pv_hold_writable(d, ring));
    evtchn_port_t port = 0;
    auto bound = evtchn_bind_ipi(d, 0, XenPort{&port});
    if (!bound) return bound.error();
    auto timer = timer_create(d);
    if (!timer) return timer.error();
    (*timer)->on_expire = drain;
    pv.console = arch::phys_ptr<xencons_interface>(to_phys(ring));
    pv.console_port = port;
    pv.console_timer = *timer;
    if (Status s = timer_set(**timer, system_time_ns() + kDrainPeriodNs, kDrainPeriodNs); !s) return s.error();
    return port;
}

void pv_console_stop(PvDomain& pv) {
    if (pv.console_timer) timer_cancel(*pv.console_timer);
}

} // namespace virtue::xen
