// HYPERVISOR_sched_op (xen/sched.h SCHEDOP_*) for PV guest kernels: yield,
// block (events enabled, until one is pending), poll (until one of up to 128
// ports is pending, masked or not, an event is to be delivered, or the
// timeout passes: Linux's PV spinlocks wait so) and shutdown, which ends the
// domain with Xen's reason as its status (its frames go back to the pool
// like any domain's). The other commands are not offered yet and return
// -ENOSYS.
#include "xen_handlers.hpp"

#include <xen/sched.h>

#include "domain/domain.hpp"
#include "event/evtchn.hpp"
#include "event/two_level.hpp"
#include "xen-compat/pv_domain.hpp"
#include "sched/scheduler.hpp"
#include "xen-compat/op_args.hpp"

namespace virtue::xen {
namespace {

const char* shutdown_text(uint32_t reason) {
    switch (reason) {
    case SHUTDOWN_poweroff: return "shut down (poweroff)";
    case SHUTDOWN_reboot: return "shut down (reboot)";
    case SHUTDOWN_suspend: return "shut down (suspend)";
    case SHUTDOWN_crash: return "shut down (crash)";
    case SHUTDOWN_watchdog: return "shut down (watchdog)";
    default: return nullptr;
    }
}

// SCHEDOP_poll, as Xen: at most 128 ports, each below the 2-level ABI's
// limit; returns 0 when one is pending, when the vCPU has an event to
// deliver (pending and not masked), or at the timeout (absolute system
// time in ns; 0: none).
CallResult poll(uint64_t arg) {
    Thread& t = *current_thread();
    PvDomain* pv = pv_domain(*t.domain);
    shared_info* shared = t.domain->events.shared;
    if (!pv || !shared || t.xen_vcpu >= 64) return Err::NotSupported;
    sched_poll_t op;
    TRY(copy_from_user(&op, arg, sizeof op));
    constexpr unsigned kMaxPorts = 128;
    if (op.nr_ports > kMaxPorts) return Err::InvalidArgument;
    evtchn_port_t ports[kMaxPorts];
    TRY(copy_from_user(ports, guest_address(op.ports), op.nr_ports * sizeof(evtchn_port_t)));
    for (unsigned i = 0; i < op.nr_ports; i++)
        if (ports[i] >= two_level::kMaxPorts) return Err::InvalidArgument;
    const vcpu_info& vi = evtchn_vcpu_info(t.domain->events, t.xen_vcpu);
    auto ready = [&] {
        if (__atomic_load_n(&vi.evtchn_upcall_pending, __ATOMIC_SEQ_CST) &&
            !__atomic_load_n(&vi.evtchn_upcall_mask, __ATOMIC_SEQ_CST))
            return true;
        for (unsigned i = 0; i < op.nr_ports; i++)
            if (two_level::test(shared->evtchn_pending, ports[i])) return true;
        return false;
    };
    const uint64_t bit = uint64_t{1} << t.xen_vcpu;
    __atomic_fetch_or(&pv->polling, bit, __ATOMIC_SEQ_CST);
    const uint64_t deadline = op.timeout ? op.timeout : kNoDeadline;
    for (;;) {
        sched_prepare_wait(); // a kick from here on makes the block return
        if (ready()) break;
        if (sched_block(deadline) != WakeReason::Signaled) break; // (the timeout, or the domain dies)
    }
    __atomic_fetch_and(&pv->polling, ~bit, __ATOMIC_SEQ_CST);
    return 0;
}

} // namespace

CallResult sched_op(uint64_t cmd, uint64_t arg) {
    switch (cmd) {
    case SCHEDOP_yield: sched_yield(); return 0;
    case SCHEDOP_block: {
        // Enables events, then sleeps until one is pending (it is
        // delivered on the way back), or the domain dies.
        Thread& t = *current_thread();
        shared_info* shared = t.domain->events.shared;
        if (!shared || t.xen_vcpu >= XEN_LEGACY_MAX_VCPUS) return Err::NotSupported;
        vcpu_info& vi = evtchn_vcpu_info(t.domain->events, t.xen_vcpu);
        __atomic_store_n(&vi.evtchn_upcall_mask, 0, __ATOMIC_SEQ_CST);
        for (;;) {
            sched_prepare_wait(); // a kick from here on makes the block return
            if (__atomic_load_n(&vi.evtchn_upcall_pending, __ATOMIC_SEQ_CST)) return 0;
            if (sched_block(kNoDeadline) == WakeReason::Interrupted) return 0;
        }
    }
    case SCHEDOP_poll: return poll(arg);
    case SCHEDOP_shutdown: {
        sched_shutdown_t op;
        TRY(copy_from_user(&op, arg, sizeof op));
        const char* text = shutdown_text(op.reason);
        if (!text) return Err::InvalidArgument;
        // The caller leaves on its way back (the domain is dying). A
        // reboot builds it again from its boot configuration once it is
        // gone, as Xen's toolstack does with on_reboot = "restart".
        if (op.reason == SHUTDOWN_reboot) self().rebuild_when_gone = true;
        domain_kill(self(), op.reason, text);
        return 0;
    }
    default: return Err::NotSupported;
    }
}

} // namespace virtue::xen
