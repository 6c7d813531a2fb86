// The grant table as a PV kernel sets it up (Linux's gnttab_init):
// GNTTABOP_setup_table lists the table's frames, the kernel maps them
// writable itself and writes grant entries there; query_size counts them.
// A grant frame can never become a page table (the hypervisor writes its
// entries' flags).
#include <stdint.h>
#include <xen/errno.h>
#include <xen/grant_table.h>
#include <xen/sched.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

alignas(4096) volatile grant_entry_v1_t grant_window[4096 / sizeof(grant_entry_v1_t)];

long grant_op(unsigned cmd, void* op, unsigned count) {
    return hypercall(__HYPERVISOR_grant_table_op, cmd, arg(op), count);
}

// GNTTABOP_setup_table for one frame: the call's result (its status when
// the call itself succeeded); the frame's MFN in *frame.
long setup_one_frame(xen_pfn_t* frame) {
    *frame = 0;
    gnttab_setup_table_t setup{};
    setup.dom = DOMID_SELF;
    setup.nr_frames = 1;
    set_xen_guest_handle(setup.frame_list, frame);
    const long rc = grant_op(GNTTABOP_setup_table, &setup, 1);
    return rc ? rc : setup.status;
}

} // namespace

void run_grant_checks(Checks& c, const Boot& b) {
    xen_pfn_t frames[1] = {0};
    long rc = setup_one_frame(frames);
    c.expect("grant_setup_table_one_frame", rc == GNTST_okay && frames[0] != 0, "rc/status %ld frame 0x%lx", rc, frames[0]);
    gnttab_query_size_t q{};
    q.dom = DOMID_SELF;
    rc = grant_op(GNTTABOP_query_size, &q, 1);
    c.expect("grant_query_size_counts_it", rc == 0 && q.status == GNTST_okay && q.nr_frames >= 1 && q.max_nr_frames >= q.nr_frames,
             "rc %ld status %d frames %u of %u", rc, q.status, q.nr_frames, q.max_nr_frames);
    if (!frames[0]) return;

    // Mapped writable at our window, an entry written and read back.
    const uint64_t va = reinterpret_cast<uint64_t>(grant_window);
    rc = update_va_mapping(va, (frames[0] << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL);
    c.expect_eq("grant_frame_maps_writable", rc, 0);
    if (rc == 0) {
        const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
        grant_window[9].frame = static_cast<uint32_t>(p2m[b.si->nr_pages - 16]);
        grant_window[9].domid = DOMID_SELF;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        grant_window[9].flags = GTF_permit_access;
        c.expect("grant_entry_written_in_place", grant_window[9].flags == GTF_permit_access && grant_window[9].domid == DOMID_SELF,
                 "flags 0x%x domid 0x%x", grant_window[9].flags, grant_window[9].domid);
        grant_window[9].flags = 0;
    }
    // Never a page table: while mapped writable, and afterwards too.
    c.expect_eq("grant_frame_pin_l1_refused_while_mapped", mmuext(MMUEXT_PIN_L1_TABLE, frames[0]), -XEN_EINVAL);
    const uint64_t own = own_mfn(b, const_cast<grant_entry_v1_t*>(&grant_window[0]));
    rc = update_va_mapping(va, (own << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL);
    c.expect_eq("grant_window_mapped_back", rc, 0);
    c.expect_eq("grant_frame_pin_l1_refused", mmuext(MMUEXT_PIN_L1_TABLE, frames[0]), -XEN_EINVAL);
}

void run_grant_offer(const Boot& b, domid_t to, bool table) {
    xen_pfn_t frames[1] = {0};
    const uint64_t va = reinterpret_cast<uint64_t>(grant_window);
    long rc = setup_one_frame(frames);
    if (rc == GNTST_okay)
        rc = update_va_mapping(va, (frames[0] << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL);
    const uint64_t data = reinterpret_cast<const uint64_t*>(b.si->mfn_list)[b.si->nr_pages / 2];
    const uint64_t marker[1] = {0x9a7e7f0d0e5a17edull};
    if (rc != 0 || !fill(b, data, marker, sizeof marker)) {
        print("pv-test: grant offer: no grant table (%ld)\n", rc);
        return;
    }
    // With `table`: our own L4, writable, which the other domain must not
    // be able to map (it would write our page tables).
    const uint64_t granted = table ? own_mfn(b, reinterpret_cast<const void*>(b.si->pt_base)) : data;
    const uint16_t access = table ? GTF_permit_access : GTF_permit_access | GTF_readonly;
    grant_window[9].frame = static_cast<uint32_t>(granted);
    grant_window[9].domid = to;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    grant_window[9].flags = access;
    print("pv-test: %s granted as ref 9 to d%u\n", table ? "our L4 (writable)" : "frame", to);
    // The other domain maps it (the hypervisor sets GTF_reading while it is
    // mapped) and unmaps it again.
    bool seen = false;
    uint64_t spins = 0;
    for (; spins < (table ? 600000u : 5000000u); spins++) { // (table: past the other side's 500 ms of tries)
        const uint16_t flags = grant_window[9].flags;
        if (flags & (GTF_reading | GTF_writing)) seen = true;
        else if (seen) break;
        (void)sched_op(SCHEDOP_yield, nullptr);
    }
    uint16_t expect = access;
    const bool ended = __atomic_compare_exchange_n(&grant_window[9].flags, &expect, uint16_t{0}, false, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST);
    print("pv-test: grant 9 mapped by d%u and unmapped: %s (after %lu yields); access ended: %s\n", to,
          seen && !(grant_window[9].flags & (GTF_reading | GTF_writing)) ? "yes" : "no", spins, ended ? "yes" : "no");
}

} // namespace pv
