// HYPERVISOR_sched_op (xen/sched.h SCHEDOP_*) for PV guest kernels: yield,
// block (events enabled, until one is pending) and shutdown, which ends the domain with Xen's reason as its status (its
// frames go back to the pool like any domain's). The other commands are not
// offered yet and return -ENOSYS.
#include "xen_handlers.hpp"

#include <xen/sched.h>

#include "domain/domain.hpp"
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
    case SCHEDOP_shutdown: {
        sched_shutdown_t op;
        TRY(copy_from_user(&op, arg, sizeof op));
        const char* text = shutdown_text(op.reason);
        if (!text) return Err::InvalidArgument;
        // The caller leaves on its way back (the domain is dying).
        domain_kill(self(), op.reason, text);
        return 0;
    }
    default: return Err::NotSupported;
    }
}

} // namespace virtue::xen
