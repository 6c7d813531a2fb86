// __HYPERVISOR_physdev_op: what a PV kernel without devices asks for. Linux
// sets its virtual I/O privilege level at boot (PHYSDEVOP_set_iopl); no
// interrupt line or PCI device belongs to any domain yet, so every other
// command is -ENOSYS, as Xen answers what it does not implement.
#include "xen_handlers.hpp"

#include <xen/physdev.h>

#include "pv_domain.hpp"
#include "sched/scheduler.hpp"
#include "xen-compat/op_args.hpp"

namespace virtue::xen {

CallResult physdev_op(uint64_t cmd, uint64_t arg) {
    PvVcpu* v = pv_vcpu(*current_thread());
    if (!v) return Err::NotSupported;
    switch (cmd) {
    case PHYSDEVOP_set_iopl:
        return with_input<physdev_set_iopl_t>(arg, [&](physdev_set_iopl_t& op) -> Status {
            if (op.iopl > 3) return Err::InvalidArgument;
            v->iopl = static_cast<uint8_t>(op.iopl);
            return Status::success();
        });
    default: return Err::NotSupported;
    }
}

} // namespace virtue::xen
