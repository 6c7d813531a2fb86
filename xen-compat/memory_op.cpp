// HYPERVISOR_memory_op (xen/memory.h): what a guest may learn about memory.
// The reservation of a domain is its partition (fixed: memory is never
// overcommitted, so current and maximum are the same); the M2P's mapping
// and extent are the table xen-compat/m2p.hpp keeps. XENMEM_memory_map is
// -ENOSYS, as Linux expects when there is no custom map (it then uses one
// RAM region). Changing a reservation (decrease_reservation,
// populate_physmap, exchange) belongs to PV domains' pseudo-physical
// memory and is -ENOSYS until they exist; so is every other command.
#include "xen_handlers.hpp"

#include <xen/memory.h>

#include "mm/memory.hpp"
#include "xen-compat/m2p.hpp"
#include "xen-compat/op_args.hpp"
#include "xen-compat/pv_domain.hpp"

namespace virtue::xen {
namespace {

// A domain's reservation: a PV guest's RAM (its partition also holds the
// few frames the hypervisor keeps for it), a native domain's partition.
uint64_t reservation_of(Domain& d) {
    const PvDomain* pv = pv_domain(d);
    return pv ? pv->nr_pages : d.partition_frames;
}

// The reservation of the domain `arg` names (a domid_t in guest memory).
CallResult reservation(uint64_t arg) {
    domid_t dom;
    TRY(copy_from_user(&dom, arg, sizeof dom));
    Domain& me = self();
    if (names_self(dom)) return reservation_of(me);
    if (!me.is_control()) return Err::NotPermitted;
    auto other = domain_get(dom);
    if (!other) return Err::NoSuchDomain;
    const uint64_t frames = reservation_of(**other);
    domain_put(**other);
    return frames;
}

} // namespace

CallResult memory_op(uint64_t cmd, uint64_t arg) {
    switch (cmd) {
    case XENMEM_current_reservation:
    case XENMEM_maximum_reservation:
        return reservation(arg);
    case XENMEM_maximum_ram_page: return frame_table_size() - 1;
    case XENMEM_machphys_mapping: {
        xen_machphys_mapping_t m{};
        m.v_start = MACH2PHYS_VIRT_START;
        m.v_end = MACH2PHYS_VIRT_END;
        m.max_mfn = m2p_frames() - 1; // entries past it are not mapped
        TRY(copy_to_user(arg, &m, sizeof m));
        return 0;
    }
    default: return Err::NotSupported;
    }
}

} // namespace virtue::xen
