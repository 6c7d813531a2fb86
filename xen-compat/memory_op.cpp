// HYPERVISOR_memory_op (xen/memory.h): what a guest may learn about its
// memory, and a PV guest's changes to its reservation.
// A native domain's reservation is its partition (fixed). A PV guest's is
// its RAM frames now, at most the RAM it booted with (pv_reservation.hpp:
// decrease_reservation gives frames back into its partition,
// increase_reservation and populate_physmap take them again). The M2P's
// mapping and extent are the table xen-compat/m2p.hpp keeps.
// XENMEM_memory_map is -ENOSYS, as Xen answers a domain the toolstack gave
// no map (Linux then uses one RAM region of its reservation). Every other
// command is -ENOSYS.
#include "xen_handlers.hpp"

#include <xen/memory.h>

#include "arch/tlb.hpp"
#include "mm/memory.hpp"
#include "sched/scheduler.hpp"
#include "xen-compat/m2p.hpp"
#include "xen-compat/op_args.hpp"
#include "xen-compat/pv_domain.hpp"
#include "xen-compat/pv_reservation.hpp"

namespace virtue::xen {
namespace {

// A domain's reservation: a PV guest's RAM (its partition also holds the
// few frames the hypervisor keeps for it), a native domain's partition.
uint64_t reservation_of(Domain& d, bool maximum) {
    const PvDomain* pv = pv_domain(d);
    if (!pv) return d.partition_frames;
    return maximum ? pv->nr_pages : __atomic_load_n(&pv->ram_frames, __ATOMIC_RELAXED);
}

// The reservation of the domain `arg` names (a domid_t in guest memory).
CallResult reservation(uint64_t arg, bool maximum) {
    domid_t dom;
    TRY(copy_from_user(&dom, arg, sizeof dom));
    Domain& me = self();
    if (names_self(dom)) return reservation_of(me, maximum);
    if (!me.is_control()) return Err::NotPermitted;
    auto other = domain_get(dom);
    if (!other) return Err::NoSuchDomain;
    const uint64_t frames = reservation_of(**other, maximum);
    domain_put(**other);
    return frames;
}

// A preempted reservation change continues at extent cmd >> kExtentShift
// (the command is in the low bits), as Xen encodes it.
constexpr unsigned kExtentShift = 6;
constexpr uint64_t kCmdMask = (1u << kExtentShift) - 1;
constexpr uint64_t kExtentsPerStep = 64;

// XENMEM_increase_reservation, decrease_reservation, populate_physmap for
// the calling PV guest, from extent `start`: returns the number of extents
// done in all (a frame that is refused, or an unreadable or unwritable
// list entry, ends the batch there, as in Xen). Single frames only: an
// extent_order above 0 does nothing.
CallResult change_reservation(uint64_t op, uint64_t start, uint64_t arg) {
    xen_memory_reservation_t r;
    TRY(copy_from_user(&r, arg, sizeof r));
    Domain& d = self();
    PvDomain* pv = pv_domain(d);
    if (!pv) return Err::NotSupported; // (a native domain's partition is its memory)
    if (!names_self(r.domid)) return Err::NotPermitted;
    if (start >= r.nr_extents || r.extent_order != 0) return start;
    const uint64_t list = reinterpret_cast<uint64_t>(r.extent_start.p);
    // XENMEMF_address_bits: every new frame below 2^bits.
    const unsigned bits = XENMEMF_get_address_bits(r.mem_flags);
    uint64_t i = start;
    for (; i < r.nr_extents; i++) {
        if (i > start && (i - start) % kExtentsPerStep == 0 && hypercall_preempt_check()) {
            hypercall_continue_with(0, op | (i << kExtentShift));
            return Err::Restart;
        }
        xen_pfn_t value = 0;
        if (op != XENMEM_increase_reservation || list)
            if (!copy_from_user(&value, list + i * sizeof value, sizeof value)) break;
        PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
        PvMmuEnv env(d);
        pv::PageTables<PvMmuEnv> tables(env);
        pv::Reservation<PvMmuEnv> frames(env, tables);
        if (op == XENMEM_decrease_reservation) {
            if (!frames.release(Mfn(value))) break;
            continue;
        }
        auto m = frames.populate(op == XENMEM_populate_physmap ? value : pv::kM2pInvalid);
        if (!m) break;
        const xen_pfn_t mfn = m->raw();
        if ((bits && bits < 64 && (bits <= PAGE_SHIFT || (mfn >> (bits - PAGE_SHIFT)) != 0)) ||
            (list && !copy_to_user(list + i * sizeof mfn, &mfn, sizeof mfn))) {
            (void)frames.release(*m); // (nothing names it yet)
            break;
        }
    }
    return i;
}

} // namespace

CallResult memory_op(uint64_t cmd, uint64_t arg) {
    switch (cmd & kCmdMask) {
    case XENMEM_increase_reservation:
    case XENMEM_decrease_reservation:
    case XENMEM_populate_physmap:
        return change_reservation(cmd & kCmdMask, cmd >> kExtentShift, arg);
    default: break;
    }
    switch (cmd) {
    case XENMEM_current_reservation: return reservation(arg, false);
    case XENMEM_maximum_reservation: return reservation(arg, true);
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
