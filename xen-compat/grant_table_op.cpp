// __HYPERVISOR_grant_table_op: Xen's GNTTABOP_* on the one grant-table
// implementation (hypervisor/grant/grant_table.hpp), with Xen's structs and
// GNTST_* statuses.
//
//   query_size, setup_table  the caller's own table (DOMID_SELF or its id);
//                            setup_table grows it and lists its frames'
//                            MFNs (a native domain also finds them mapped
//                            at VIRTUE_GRANT_TABLE_VA; a PV guest may map
//                            them writable itself, never as page tables)
//   map_grant_ref            GNTMAP_host_map at host_addr of the caller's
//                            current address space (readonly as asked);
//                            a PV guest also GNTMAP_contains_pte (host_addr
//                            is the machine address of an entry in one of
//                            its L1 tables) and GNTMAP_device_map (no
//                            entry: dev_bus_addr tells the frame's machine
//                            address; there is no IOMMU). The handle is a
//                            maptrack slot of the caller
//   unmap_grant_ref          by handle, as Xen: host_addr (where it maps)
//                            takes down the host part, dev_bus_addr the
//                            device part; the handle goes with its last
//                            part (from any thread of the domain)
//   copy                     each end a grant (GNTCOPY_*_gref) or a frame
//                            of the caller named by MFN; len 0 copies
//                            nothing (after the usual checks), as in Xen
//
// Statuses are Xen's: a map of neither kind is GNTST_bad_gntref, an entry
// that does not grant the caller what it asks GNTST_general_error.
// Other commands (transfer, v2, swap, cache flush, ...) return -ENOSYS.
// A batch of any length (up to Xen's 2^32 - 1) is preemptible: it stops
// between operations when the CPU has other work and continues where it
// stopped (sched/scheduler.hpp: continuations).
#include "xen_handlers.hpp"

#include <stddef.h>
#include <xen/grant_table.h>

#include "grant/grant_table.hpp"
#include "sched/scheduler.hpp"
#include "lib/result.hpp"
#include "lib/xen_errno.hpp"
#include "xen-compat/op_args.hpp"
#include "xen-compat/pv_domain.hpp"

namespace virtue::xen {
namespace {

// GNTMAP_* bits a map may carry: host_map, readonly, application_map (all
// of a domain's mappings are user mappings) and the guest's own bits.
constexpr uint32_t kMapFlags = GNTMAP_host_map | GNTMAP_readonly | GNTMAP_application_map | GNTMAP_guest_avail_mask;

AddressSpace& current_aspace() { return *current_thread()->aspace; }

// Runs fn on each of `count` ops at `arg`, writing back only the OUT field
// range [out_begin, out_end) of each (Xen writes only those). If that
// write-back fails, undo(op) takes back what fn did (a grant handle the
// caller would never learn) and the call ends with -EFAULT. Between ops the
// batch may be preempted: it continues, as in Xen, with `arg` and `count`
// (argument registers 1 and 2) advanced past the ops already done.
template <typename Op, typename Fn, typename Undo>
CallResult each_op(uint64_t arg, uint64_t count, size_t out_begin, size_t out_end, Fn fn, Undo undo) {
    if (count > UINT32_MAX) return Err::InvalidArgument; // Xen's count is an unsigned int
    for (uint64_t i = 0; i < count; i++) {
        if (i > 0 && hypercall_preempt_check()) {
            hypercall_continue_with(1, arg + i * sizeof(Op));
            hypercall_continue_with(2, count - i);
            return Err::Restart;
        }
        const uint64_t at = arg + i * sizeof(Op);
        Op op;
        TRY(copy_from_user(&op, at, sizeof op));
        fn(op);
        if (Status s = copy_to_user(at + out_begin, reinterpret_cast<const uint8_t*>(&op) + out_begin,
                                    out_end - out_begin);
            !s) {
            undo(op);
            return s.error();
        }
    }
    return 0;
}
template <typename Op> void nothing_to_undo(const Op&) {}

void map_one(Domain& d, gnttab_map_grant_ref_t& op) {
    op.handle = 0;
    op.dev_bus_addr = 0;
    const uint32_t allowed = kMapFlags | (pv_domain(d) ? GNTMAP_device_map | GNTMAP_contains_pte : 0);
    if (!(op.flags & (GNTMAP_host_map | GNTMAP_device_map))) {
        op.status = GNTST_bad_gntref;
        return;
    }
    if (op.flags & ~allowed) {
        op.status = GNTST_general_error;
        return;
    }
    if ((op.flags & GNTMAP_host_map) && !(op.flags & GNTMAP_contains_pte) && (op.host_addr & (PAGE_SIZE - 1))) {
        op.status = GNTST_bad_virt_addr;
        return;
    }
    auto granter = domid_named(d, op.dom);
    if (!granter) {
        op.status = GNTST_bad_domain;
        return;
    }
    if (op.ref >= kMaxGrants) {
        op.status = GNTST_bad_gntref;
        return;
    }
    Mfn frame;
    auto h = grant_map_tracked(d, *granter, op.ref, current_aspace(), op.host_addr, op.flags & GNTMAP_readonly,
                               op.flags, &frame);
    op.status = h ? GNTST_okay : grant_status_of(h.error());
    if (!h) return;
    op.handle = *h;
    if (op.flags & GNTMAP_device_map) op.dev_bus_addr = to_phys(frame).raw();
}

void unmap_one(Domain& d, gnttab_unmap_grant_ref_t& op) {
    if (op.dev_bus_addr != 0 && !pv_domain(d)) { // no device mappings are ever made
        op.status = GNTST_general_error;
        return;
    }
    op.status = grant_unmap_tracked(d, op.handle, op.host_addr, op.dev_bus_addr);
}

// One end of a copy: a grant, or (without its GNTCOPY_*_gref flag) a frame
// of the caller. Naming frames by number bypasses the caller's handles, so
// only threads of the domain's first address space (where its Xen view,
// shared_info and the grant table, lives) may do it.
int16_t copy_end(Domain& d, const gnttab_copy_t::gnttab_copy_ptr& p, bool gref, GrantCopyEnd& end) {
    end.offset = p.offset;
    if (gref) {
        auto granter = domid_named(d, p.domid);
        if (!granter) return GNTST_bad_domain;
        if (p.u.ref >= kMaxGrants) return GNTST_bad_gntref;
        end.kind = GrantCopyEnd::Kind::Grant;
        end.domid = *granter;
        end.ref = p.u.ref;
        return GNTST_okay;
    }
    if (!names_self(p.domid) || &current_aspace() != d.aspace0) return GNTST_permission_denied;
    end.kind = GrantCopyEnd::Kind::Frame;
    end.frame = Mfn(p.u.gmfn);
    return GNTST_okay;
}

void copy_one(Domain& d, gnttab_copy_t& op) {
    if (op.flags & ~(GNTCOPY_source_gref | GNTCOPY_dest_gref)) {
        op.status = GNTST_bad_copy_arg;
        return;
    }
    GrantCopyEnd src, dst;
    op.status = copy_end(d, op.source, op.flags & GNTCOPY_source_gref, src);
    if (op.status == GNTST_okay) op.status = copy_end(d, op.dest, op.flags & GNTCOPY_dest_gref, dst);
    if (op.status == GNTST_okay) op.status = grant_copy(d, src, dst, op.len);
}

} // namespace

CallResult grant_table_op(uint64_t cmd, uint64_t arg, uint64_t count) {
    Domain& d = self();
    switch (cmd) {
    case GNTTABOP_query_size:
        if (count != 1) return Err::InvalidArgument;
        return with_op<gnttab_query_size_t>(arg, [&](gnttab_query_size_t& op) -> Status {
            op.nr_frames = grant_table_frames(d);
            op.max_nr_frames = kMaxGrantFrames;
            op.status = names_self(op.dom) ? GNTST_okay : GNTST_permission_denied;
            if (op.status != GNTST_okay) op.nr_frames = op.max_nr_frames = 0;
            return Status::success();
        });
    case GNTTABOP_setup_table:
        if (count != 1) return Err::InvalidArgument;
        return with_op<gnttab_setup_table_t>(arg, [&](gnttab_setup_table_t& op) -> Status {
            if (!names_self(op.dom)) {
                op.status = GNTST_permission_denied;
                return Status::success();
            }
            if (op.nr_frames > kMaxGrantFrames) {
                op.status = GNTST_general_error;
                return Status::success();
            }
            if (Status s = grant_table_grow(d, op.nr_frames); !s) {
                op.status = GNTST_general_error;
                return Status::success();
            }
            // A PV guest maps its grant frames itself (Linux does, at once).
            if (Status s = pv_grant_frames_mappable(d, op.nr_frames); !s) {
                op.status = GNTST_general_error;
                return Status::success();
            }
            op.status = GNTST_okay;
            const uint64_t list = guest_address(op.frame_list);
            for (uint32_t i = 0; i < op.nr_frames; i++) {
                const xen_pfn_t mfn = grant_table_frame(d, i).raw();
                if (!copy_to_user(list + i * sizeof mfn, &mfn, sizeof mfn)) {
                    op.status = GNTST_bad_virt_addr;
                    break;
                }
            }
            return Status::success();
        });
    case GNTTABOP_map_grant_ref:
        return each_op<gnttab_map_grant_ref_t>(arg, count, offsetof(gnttab_map_grant_ref_t, status),
                                               sizeof(gnttab_map_grant_ref_t),
                                               [&](gnttab_map_grant_ref_t& op) { map_one(d, op); },
                                               [&](const gnttab_map_grant_ref_t& op) {
                                                   if (op.status == GNTST_okay)
                                                       (void)grant_unmap_tracked(d, op.handle, op.host_addr,
                                                                                 op.dev_bus_addr);
                                               });
    case GNTTABOP_unmap_grant_ref:
        return each_op<gnttab_unmap_grant_ref_t>(arg, count, offsetof(gnttab_unmap_grant_ref_t, status),
                                                 offsetof(gnttab_unmap_grant_ref_t, status) + sizeof(int16_t),
                                                 [&](gnttab_unmap_grant_ref_t& op) { unmap_one(d, op); },
                                                 nothing_to_undo<gnttab_unmap_grant_ref_t>);
    case GNTTABOP_copy:
        return each_op<gnttab_copy_t>(arg, count, offsetof(gnttab_copy_t, status),
                                      offsetof(gnttab_copy_t, status) + sizeof(int16_t),
                                      [&](gnttab_copy_t& op) { copy_one(d, op); }, nothing_to_undo<gnttab_copy_t>);
    default:
        // transfer, dump_table, v2 (set_version, get_status_frames, ...),
        // unmap_and_replace, swap_grant_ref, cache_flush.
        return Err::NotSupported;
    }
}

} // namespace virtue::xen
