// The grant table as a PV kernel sets it up (Linux's gnttab_init):
// GNTTABOP_setup_table lists the table's frames, the kernel maps them
// writable itself and writes grant entries there; query_size counts them.
// A grant frame can never become a page table (the hypervisor writes its
// entries' flags).
#include <stdint.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
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
alignas(4096) volatile uint64_t host_page[512]; // where grants are mapped over our own page
alignas(4096) volatile uint64_t other_page[512];
constexpr uint64_t kGrantMarker = 0x6772616e745f6d61ull;
constexpr uint64_t PTE_US = 1u << 2, PTE_NX = 1ull << 63, PTE_ADDR = 0x000ffffffffff000ull, kGuestKernel = 1ull << 52;
constexpr grant_ref_t kRef = 10;

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

gnttab_map_grant_ref_t map_op(domid_t dom, grant_ref_t ref, uint64_t host, uint32_t flags) {
    gnttab_map_grant_ref_t op{};
    op.host_addr = host;
    op.flags = flags;
    op.ref = ref;
    op.dom = dom;
    op.status = 99; // (must be overwritten)
    return op;
}

// One map: the call's result, else the op's status.
long map_one(gnttab_map_grant_ref_t& op) {
    const long rc = grant_op(GNTTABOP_map_grant_ref, &op, 1);
    return rc ? rc : op.status;
}

long unmap_one(uint64_t host, grant_handle_t handle, uint64_t dev_bus_addr = 0) {
    gnttab_unmap_grant_ref_t op{};
    op.host_addr = host;
    op.dev_bus_addr = dev_bus_addr;
    op.handle = handle;
    op.status = 99;
    const long rc = grant_op(GNTTABOP_unmap_grant_ref, &op, 1);
    return rc ? rc : op.status;
}

// Host maps of a grant into our own page tables, as a backend driver makes
// them: GNTMAP_host_map at a virtual address, or at the machine address of
// an L1 entry (GNTMAP_contains_pte, how gntdev maps into user space), and
// GNTMAP_device_map. The grant is one of our own frames granted to
// ourselves, so the same checks run as Xen's dom0 and as a domU.
void check_host_maps(Checks& c, const Boot& b) {
    const domid_t self = own_domid();
    c.expect("grant_own_domid_known", self != DOMID_INVALID && (self == 0) == b.dom0, "domid 0x%x", self);
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    const uint64_t data = p2m[b.si->nr_pages - 17];
    const uint64_t marker[1] = {kGrantMarker};
    if (self == DOMID_INVALID || !fill(b, data, marker, sizeof marker)) return;
    volatile grant_entry_v1_t& e = grant_window[kRef];
    e.frame = static_cast<uint32_t>(data);
    e.domid = self;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    e.flags = GTF_permit_access;

    const uint64_t va = reinterpret_cast<uint64_t>(host_page);
    const uint64_t own = own_mfn(b, const_cast<uint64_t*>(host_page));
    const uint64_t pte = l1_entry_address(b, va);
    const uint64_t own_entry = read_entry(pte);
    host_page[0] = 0x1111;
    auto restore = [&] { (void)update_va_mapping(va, (own << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL); };

    // By PTE: the entry is ours to name, the grant's frame appears there.
    gnttab_map_grant_ref_t op = map_op(self, kRef, pte, GNTMAP_host_map | GNTMAP_contains_pte);
    long rc = map_one(op);
    c.expect_eq("grant_map_own_frame_by_pte", rc, GNTST_okay);
    if (rc == GNTST_okay) {
        (void)invlpg(va);
        const uint64_t got = read_entry(pte);
        c.expect("grant_map_by_pte_maps_the_frame", host_page[0] == kGrantMarker && (got & PTE_ADDR) == data << 12,
                 "word 0x%lx entry 0x%lx", host_page[0], got);
        c.info("grant_map_by_pte_entry", "0x%lx for frame 0x%lx (own entry was 0x%lx)", got & ~PTE_ADDR, data, own_entry & ~PTE_ADDR);
        // As Xen writes it: present, accessed, dirty, no-execute, and (the
        // guest kernel runs in ring 3) user with the guest-kernel bit.
        c.expect("grant_map_by_pte_entry_bits", (got & ~PTE_ADDR) == (PTE_NX | kGuestKernel | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D),
                 "entry 0x%lx", got);
        c.expect("grant_map_pins_the_entry", (e.flags & (GTF_reading | GTF_writing)) == (GTF_reading | GTF_writing),
                 "flags 0x%x", e.flags);
        // The granter cannot end a grant that is mapped.
        uint16_t expect = GTF_permit_access;
        c.expect("grant_mapped_cannot_be_ended",
                 !__atomic_compare_exchange_n(&e.flags, &expect, uint16_t{0}, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST),
                 "flags 0x%x", e.flags);
        c.expect_eq("grant_unmap_elsewhere_refused", unmap_one(l1_entry_address(b, reinterpret_cast<uint64_t>(other_page)), op.handle),
                    GNTST_general_error);
        c.expect_eq("grant_unmap_by_pte", unmap_one(pte, op.handle), GNTST_okay);
        (void)invlpg(va);
        c.expect("grant_unmap_by_pte_clears_entry", read_entry(pte) == 0 && e.flags == GTF_permit_access,
                 "entry 0x%lx flags 0x%x", read_entry(pte), e.flags);
        c.expect_eq("grant_unmap_handle_twice_refused", unmap_one(pte, op.handle), GNTST_bad_handle);
    }
    restore();

    // By virtual address, read-only: the L1 that maps it in our tables.
    op = map_op(self, kRef, va, GNTMAP_host_map | GNTMAP_readonly);
    rc = map_one(op);
    c.expect_eq("grant_map_readonly_by_va", rc, GNTST_okay);
    if (rc == GNTST_okay) {
        (void)invlpg(va);
        const uint64_t got = read_entry(pte);
        c.expect("grant_map_by_va_maps_it_readonly", host_page[0] == kGrantMarker && (got & PTE_ADDR) == data << 12 && !(got & PTE_RW),
                 "word 0x%lx entry 0x%lx", host_page[0], got);
        c.expect("grant_map_readonly_pins_reading", (e.flags & (GTF_reading | GTF_writing)) == GTF_reading, "flags 0x%x", e.flags);
        c.expect_eq("grant_unmap_by_va", unmap_one(va, op.handle), GNTST_okay);
        c.expect("grant_unmap_by_va_clears_entry", read_entry(pte) == 0 && e.flags == GTF_permit_access,
                 "entry 0x%lx flags 0x%x", read_entry(pte), e.flags);
    }
    restore();

    // For a device: no page table changes; the frame's bus address.
    op = map_op(self, kRef, 0, GNTMAP_device_map);
    rc = map_one(op);
    c.expect_eq("grant_map_device", rc, GNTST_okay);
    if (rc == GNTST_okay) {
        c.info("grant_map_device_bus_address", "0x%lx for frame 0x%lx", op.dev_bus_addr, data);
        c.expect("grant_map_device_pins", (e.flags & (GTF_reading | GTF_writing)) == (GTF_reading | GTF_writing), "flags 0x%x", e.flags);
        c.expect_eq("grant_unmap_device", unmap_one(0, op.handle, op.dev_bus_addr), GNTST_okay);
        c.expect("grant_unmap_device_unpins", e.flags == GTF_permit_access, "flags 0x%x", e.flags);
    }

    // Both kinds in one map, taken down one part at a time: the handle
    // lives until the last part goes.
    op = map_op(self, kRef, va, GNTMAP_host_map | GNTMAP_device_map);
    rc = map_one(op);
    c.expect_eq("grant_map_host_and_device", rc, GNTST_okay);
    if (rc == GNTST_okay) {
        c.expect_eq("grant_unmap_nothing_named", unmap_one(0, op.handle), GNTST_okay);
        c.expect_eq("grant_unmap_device_wrong_address", unmap_one(0, op.handle, op.dev_bus_addr + 4096), GNTST_bad_dev_addr);
        c.expect_eq("grant_unmap_host_part", unmap_one(va, op.handle), GNTST_okay);
        c.expect("grant_unmap_host_part_keeps_device_pin", read_entry(pte) == 0 && (e.flags & (GTF_reading | GTF_writing)) == (GTF_reading | GTF_writing),
                 "entry 0x%lx flags 0x%x", read_entry(pte), e.flags);
        c.expect_eq("grant_unmap_host_part_again", unmap_one(va, op.handle), GNTST_okay);
        c.expect_eq("grant_unmap_device_part", unmap_one(0, op.handle, op.dev_bus_addr), GNTST_okay);
        c.expect("grant_unmap_last_part_unpins", e.flags == GTF_permit_access, "flags 0x%x", e.flags);
        c.expect_eq("grant_unmap_after_last_part", unmap_one(0, op.handle, op.dev_bus_addr), GNTST_bad_handle);
    }
    restore();

    // Refused.
    op = map_op(self, kRef, data << 12, GNTMAP_host_map | GNTMAP_contains_pte);
    c.expect_eq("grant_map_pte_in_a_data_frame_refused", map_one(op), GNTST_general_error);
    op = map_op(self, kRef, 0x0000400000000000ull, GNTMAP_host_map);
    c.expect_eq("grant_map_va_without_l1_refused", map_one(op), GNTST_general_error);
    op = map_op(self, kRef, 0xffff800000000000ull, GNTMAP_host_map);
    c.expect_eq("grant_map_hypervisor_va_refused", map_one(op), GNTST_general_error);
    op = map_op(self, kRef, va, 0); // (Xen answers a map of neither kind as a bad reference)
    c.expect_eq("grant_map_no_kind_refused", map_one(op), GNTST_bad_gntref);
    op = map_op(self, kRef + 1, va, GNTMAP_host_map);
    c.expect_eq("grant_map_never_granted_refused", map_one(op), GNTST_general_error);
    op = map_op(self, 5000, va, GNTMAP_host_map);
    c.expect_eq("grant_map_ref_beyond_table_refused", map_one(op), GNTST_bad_gntref);
    e.domid = static_cast<domid_t>(self + 1);
    op = map_op(self, kRef, va, GNTMAP_host_map);
    c.expect_eq("grant_map_granted_to_another_refused", map_one(op), GNTST_general_error);
    e.domid = self;
    e.flags = GTF_permit_access | GTF_readonly;
    op = map_op(self, kRef, va, GNTMAP_host_map);
    c.expect_eq("grant_map_readonly_grant_writable_refused", map_one(op), GNTST_general_error);
    e.flags = GTF_permit_access;
    c.expect_eq("grant_unmap_unknown_handle_refused", unmap_one(va, 3000), GNTST_bad_handle);
    c.expect("grant_refusals_change_nothing", (read_entry(pte) | PTE_D) == (own_entry | PTE_D) && e.flags == GTF_permit_access && host_page[0] == 0x1111,
             "entry 0x%lx (was 0x%lx) flags 0x%x word 0x%lx", read_entry(pte), own_entry, e.flags, host_page[0]);
    e.flags = 0;
}

} // namespace

// Our own domain id (Xen's dom0 is 0; a domU learns it from no field of
// start_info): an unbound port for DOMID_SELF names us by number.
domid_t own_domid() { // (boot.hpp)
    evtchn_alloc_unbound_t a{};
    a.dom = DOMID_SELF;
    a.remote_dom = DOMID_SELF;
    if (hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, arg(&a)) != 0) return DOMID_INVALID;
    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = a.port;
    const long rc = hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_status, arg(&st));
    evtchn_close_t cl{a.port};
    (void)hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_close, arg(&cl));
    return rc == 0 && st.status == EVTCHNSTAT_unbound ? st.u.unbound.dom : DOMID_INVALID;
}

uint64_t tsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
}

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
        check_host_maps(c, b);
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

void run_grant_map_from(const Boot& b, domid_t from) {
    // Domain `from` grants ref 9 read-only (its grant-to mode); it may not
    // have written the entry yet: try for a while.
    const uint64_t va = reinterpret_cast<uint64_t>(host_page);
    const uint64_t own = own_mfn(b, const_cast<uint64_t*>(host_page));
    gnttab_map_grant_ref_t by_va{};
    long rc = GNTST_general_error;
    for (unsigned tries = 0; tries < 200000 && rc != GNTST_okay; tries++) {
        by_va = map_op(from, 9, va, GNTMAP_host_map | GNTMAP_readonly);
        rc = map_one(by_va);
        if (rc != GNTST_okay) (void)sched_op(SCHEDOP_yield, nullptr);
    }
    if (rc != GNTST_okay) {
        print("pv-test: map of d%u ref 9 failed: %ld\n", from, rc);
        return;
    }
    (void)invlpg(va);
    print("pv-test: mapped d%u ref 9 by address: read 0x%lx\n", from, host_page[0]);
    // Two more mappings of the same grant, by entry and for a device, left
    // in place: the hypervisor takes them down when this domain ends.
    const uint64_t other = reinterpret_cast<uint64_t>(other_page);
    gnttab_map_grant_ref_t by_pte = map_op(from, 9, l1_entry_address(b, other), GNTMAP_host_map | GNTMAP_contains_pte | GNTMAP_readonly);
    const long pte_rc = map_one(by_pte);
    (void)invlpg(other);
    gnttab_map_grant_ref_t dev = map_op(from, 9, 0, GNTMAP_device_map | GNTMAP_readonly);
    const long dev_rc = map_one(dev);
    print("pv-test: mapped by entry: %ld, read 0x%lx; for a device: %ld\n", pte_rc, pte_rc == GNTST_okay ? other_page[0] : 0,
          dev_rc);
    // A writable map of the read-only grant is refused.
    gnttab_map_grant_ref_t rw = map_op(from, 9, va, GNTMAP_host_map);
    print("pv-test: writable map refused: %ld\n", map_one(rw));
    rc = unmap_one(va, by_va.handle);
    (void)update_va_mapping(va, (own << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL);
    print("pv-test: unmapped by address: %ld; leaving 2 mappings to the hypervisor\n", rc);
    // Some time for the granter to see them (a yield alone need not let a
    // domain that used more of its share run): about half a second.
    const uint64_t start = tsc();
    while (tsc() - start < 500'000'000) (void)sched_op(SCHEDOP_yield, nullptr);
}

} // namespace pv
