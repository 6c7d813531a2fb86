// The PV MMU's rules through the calls a PV kernel makes: an L1 that maps
// a page table writable cannot be pinned (-EBUSY; read-only it can);
// shared_info can never become a page table; mmu_update stores into a
// frame that is no page table (a table being filled) and changes a live,
// unpinned L1, whose new translation is seen after an invlpg;
// update_va_mapping with each flush flag; and the reservation: a frame
// given back with decrease_reservation is no longer ours at once (it
// cannot be mapped or given back again) and leaves the reservation when
// nothing maps or pins it any more; populate_physmap
// brings a zeroed frame in its place, and beyond the maximum reservation
// nothing more (a domU's maximum is what it booted with; Xen's dom0 has no
// maximum).
#include <stdint.h>
#include <string.h>
#include <xen/errno.h>
#include <xen/memory.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

alignas(4096) volatile uint64_t probe_page[512]; // a page of ours whose mapping the checks move
alignas(4096) volatile uint64_t view[512];       // where other frames are looked at
constexpr uint64_t kAddr = 0x000ffffffffff000ull;
struct e820_like_entry { // (what XENMEM_memory_map would write: an E820 entry)
    uint64_t addr, size;
    uint32_t type;
} __attribute__((packed));
constexpr uint64_t kMarker = 0x6d6d755f636865ull, kOwn = 0x6f776e5f70616765ull;

long mmu_update_one(uint64_t ptr, uint64_t val) {
    mmu_update_t u{ptr, val};
    unsigned done = 0;
    return hypercall(__HYPERVISOR_mmu_update, arg(&u), 1, arg(&done), DOMID_SELF);
}

long memory_op(unsigned cmd, void* a) { return hypercall(__HYPERVISOR_memory_op, cmd, arg(a)); }

long reservation_change(unsigned cmd, xen_pfn_t* list, unsigned long n) {
    xen_memory_reservation_t r{};
    set_xen_guest_handle(r.extent_start, list);
    r.nr_extents = n;
    r.domid = DOMID_SELF;
    return memory_op(cmd, &r);
}

long current_reservation() {
    domid_t self = DOMID_SELF;
    return memory_op(XENMEM_current_reservation, &self);
}

// Maps machine frame `mfn` read-only at `view`; its first word (or -1 when
// the mapping was refused, with rc set).
uint64_t peek(uint64_t mfn, long* rc = nullptr) {
    const long r = update_va_mapping(reinterpret_cast<uint64_t>(view), (mfn << 12) | PTE_P | PTE_A, UVMF_INVLPG | UVMF_LOCAL);
    if (rc) *rc = r;
    return r == 0 ? view[0] : ~uint64_t{0};
}

void check_pins(Checks& c, const Boot& b, uint64_t scratch) {
    const uint64_t l4 = own_mfn(b, reinterpret_cast<const void*>(b.si->pt_base));
    uint64_t t[1] = {(l4 << 12) | PTE_P | PTE_RW | PTE_A};
    bool ok = fill(b, scratch, t, sizeof t);
    c.expect_eq("pin_l1_mapping_a_table_writable_ebusy", ok ? mmuext(MMUEXT_PIN_L1_TABLE, scratch) : -1, -XEN_EBUSY);
    t[0] = (l4 << 12) | PTE_P | PTE_A;
    ok = fill(b, scratch, t, sizeof t); // (still ours to write: the refused pin changed nothing)
    long rc = ok ? mmuext(MMUEXT_PIN_L1_TABLE, scratch) : -1;
    if (rc == 0) rc = mmuext(MMUEXT_UNPIN_TABLE, scratch);
    c.expect_eq("pin_l1_mapping_a_table_readonly_ok", rc, 0);
    c.expect_eq("pin_shared_info_as_l1_einval", mmuext(MMUEXT_PIN_L1_TABLE, b.si->shared_info >> 12), -XEN_EINVAL);
    (void)fill(b, scratch, t, 0);
}

void check_updates(Checks& c, const Boot& b, uint64_t data, uint64_t other) {
    // A frame that is no page table takes mmu_update as a plain store.
    long rc = mmu_update_one(((data << 12) + 5 * 8) | MMU_NORMAL_PT_UPDATE, kMarker);
    long peek_rc = 0;
    uint64_t word = 0;
    if (rc == 0 && peek(data, &peek_rc) != ~uint64_t{0}) word = view[5];
    c.expect("mmu_update_plain_frame_stores", rc == 0 && peek_rc == 0 && word == kMarker, "rc %ld, peek %ld, word 0x%lx",
             rc, peek_rc, word);

    // A live L1 (unpinned: only our L4 is): probe_page moved to `other`,
    // then back; each translation seen after an invlpg.
    uint64_t marker[1] = {kMarker};
    const uint64_t va = reinterpret_cast<uint64_t>(probe_page);
    probe_page[0] = kOwn;
    const uint64_t entry = l1_entry_address(b, va);
    const uint64_t own = own_mfn(b, const_cast<uint64_t*>(probe_page));
    rc = fill(b, other, marker, sizeof marker) ? 0 : -1;
    if (rc == 0) rc = mmu_update_one(entry | MMU_NORMAL_PT_UPDATE, (other << 12) | PTE_P | PTE_RW | PTE_A | PTE_D);
    if (rc == 0) rc = invlpg(va);
    const uint64_t moved = probe_page[0];
    long back = mmu_update_one(entry | MMU_NORMAL_PT_UPDATE, (own << 12) | PTE_P | PTE_RW | PTE_A | PTE_D);
    if (back == 0) back = invlpg(va);
    c.expect("mmu_update_live_l1_seen_after_invlpg", rc == 0 && back == 0 && moved == kMarker && probe_page[0] == kOwn,
             "rc %ld/%ld, word 0x%lx then 0x%lx", rc, back, moved, probe_page[0]);

    // update_va_mapping with each kind of flush; UVMF_NONE's change is seen
    // after an explicit invlpg.
    uint64_t vcpus = 1; // vCPU 0: us
    struct Flags {
        const char* name;
        uint64_t flags;
    } const kinds[] = {
        {"uvm_invlpg_local", UVMF_INVLPG | UVMF_LOCAL},
        {"uvm_tlb_flush_local", UVMF_TLB_FLUSH | UVMF_LOCAL},
        {"uvm_invlpg_all", UVMF_INVLPG | UVMF_ALL},
        {"uvm_tlb_flush_all", UVMF_TLB_FLUSH | UVMF_ALL},
        {"uvm_invlpg_multi", UVMF_INVLPG | UVMF_MULTI | reinterpret_cast<uint64_t>(&vcpus)},
        {"uvm_tlb_flush_multi", UVMF_TLB_FLUSH | UVMF_MULTI | reinterpret_cast<uint64_t>(&vcpus)},
        {"uvm_none_then_invlpg", UVMF_NONE},
    };
    for (const Flags& k : kinds) {
        long to = update_va_mapping(va, (other << 12) | PTE_P | PTE_A, k.flags);
        if (k.flags == UVMF_NONE && to == 0) to = invlpg(va);
        const uint64_t there = probe_page[0];
        long from = update_va_mapping(va, (own << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, k.flags);
        if (k.flags == UVMF_NONE && from == 0) from = invlpg(va);
        c.expect(k.name, to == 0 && from == 0 && there == kMarker && probe_page[0] == kOwn, "rc %ld/%ld, word 0x%lx then 0x%lx",
                 to, from, there, probe_page[0]);
    }
}

// Gives machine frame `mfn` back; the number of extents done.
long give_back(uint64_t mfn) {
    xen_pfn_t list[1] = {mfn};
    return reservation_change(XENMEM_decrease_reservation, list, 1);
}

// A new frame for PFN pfn, recorded in our P2M; the number of extents done.
long repopulate(const Boot& b, uint64_t pfn, uint64_t* mfn = nullptr) {
    xen_pfn_t list[1] = {pfn};
    const long rc = reservation_change(XENMEM_populate_physmap, list, 1);
    if (rc == 1) reinterpret_cast<uint64_t*>(b.si->mfn_list)[pfn] = list[0];
    if (mfn) *mfn = list[0];
    return rc;
}

void check_reservation(Checks& c, const Boot& b, uint64_t unused_pfn, uint64_t table_pfn, uint64_t mapped_pfn) {
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    const long before = current_reservation();

    // A frame nothing maps: gone at once.
    const uint64_t unused = p2m[unused_pfn];
    c.expect_eq("decrease_reservation_returns_1", give_back(unused), 1);
    c.expect_eq("decrease_reservation_counted", current_reservation(), before - 1);
    long rc = 0;
    (void)peek(unused, &rc);
    c.expect("given_back_frame_cannot_be_mapped", rc < 0, "update_va_mapping rc %ld", rc);
    c.expect_eq("given_back_frame_cannot_go_back_twice", give_back(unused), 0);
    uint64_t fresh = 0;
    c.expect_eq("populate_physmap_returns_1", repopulate(b, unused_pfn, &fresh), 1);
    c.expect_eq("populate_physmap_counted", current_reservation(), before);
    c.expect("populated_frame_in_m2p", machine_to_phys_mapping[fresh] == unused_pfn, "mfn 0x%lx: m2p 0x%lx, want 0x%lx",
             fresh, machine_to_phys_mapping[fresh], unused_pfn);
    const uint64_t first = peek(fresh, &rc);
    c.expect("populated_frame_zeroed_and_mapped", rc == 0 && first == 0 && view[511] == 0, "rc %ld, words 0x%lx 0x%lx", rc,
             first, view[511]);

    // A pinned page table: no longer ours, but alive and counted until we
    // unpin it (which we still may).
    const uint64_t table = p2m[table_pfn];
    uint64_t t[1] = {(own_mfn(b, reinterpret_cast<const void*>(b.si->pt_base)) << 12) | PTE_P | PTE_A};
    rc = fill(b, table, t, sizeof t) ? mmuext(MMUEXT_PIN_L1_TABLE, table) : -1;
    const long table_back = rc == 0 ? give_back(table) : rc;
    const long while_pinned = current_reservation();
    c.expect("pinned_table_counted_until_unpinned", table_back == 1 && while_pinned == before,
             "pin %ld, given back %ld, reservation %ld (was %ld)", rc, table_back, while_pinned, before);
    c.expect_eq("given_back_table_unpins", mmuext(MMUEXT_UNPIN_TABLE, table), 0);
    c.expect_eq("unpinned_table_gone", current_reservation(), before - 1);
    c.expect_eq("populate_for_the_table", repopulate(b, table_pfn), 1);

    // A frame still mapped (at `view`): no longer ours, but alive and
    // counted until that mapping goes.
    const uint64_t mapped = p2m[mapped_pfn];
    const uint64_t seen = peek(mapped, &rc);
    const long mapped_back = rc == 0 ? give_back(mapped) : rc;
    const long while_mapped = current_reservation();
    c.expect("mapped_frame_counted_until_unmapped", mapped_back == 1 && while_mapped == before && view[5] == kMarker,
             "given back %ld, reservation %ld (was %ld), word 0x%lx (first 0x%lx)", mapped_back, while_mapped, before, view[5], seen);
    (void)update_va_mapping(reinterpret_cast<uint64_t>(view), (own_mfn(b, const_cast<uint64_t*>(view)) << 12) | PTE_P | PTE_RW | PTE_A | PTE_D,
                            UVMF_INVLPG | UVMF_LOCAL);
    c.expect_eq("mapped_frame_goes_when_unmapped", current_reservation(), before - 1);
    c.expect_eq("populate_for_the_mapped_frame", repopulate(b, mapped_pfn), 1);

    // Beyond the maximum: a domU's is what it booted with; Xen's dom0 has
    // none (2^32 - 1 pages), so there one more frame comes, and goes back.
    domid_t self = DOMID_SELF;
    const long maximum = memory_op(XENMEM_maximum_reservation, &self);
    xen_pfn_t extra[1] = {b.si->nr_pages};
    const long got = reservation_change(XENMEM_populate_physmap, extra, 1);
    if (got == 1) (void)give_back(extra[0]);
    c.info("reservation", "maximum %ld, current %ld; one more populated: %ld", maximum, before, got);
    c.expect("populate_beyond_maximum_as_the_role_says",
             b.dom0 ? (maximum > before && got == 1) : (maximum == before && got == 0),
             "%s: maximum %ld, current %ld, one more: %ld", b.dom0 ? "dom0" : "domU", maximum, before, got);
    c.expect_eq("reservation_back_where_it_was", current_reservation(), before);
    // Bad input changes nothing: no extents, a list that cannot be read,
    // a start extent (the continuation's, in the command) past the list.
    xen_memory_reservation_t bad{};
    bad.domid = DOMID_SELF;
    bad.nr_extents = 0;
    set_xen_guest_handle(bad.extent_start, extra);
    c.expect_eq("decrease_reservation_no_extents_0", memory_op(XENMEM_decrease_reservation, &bad), 0);
    bad.nr_extents = 1;
    set_xen_guest_handle(bad.extent_start, reinterpret_cast<xen_pfn_t*>(0x1000)); // (nothing of ours there)
    c.expect_eq("decrease_reservation_unreadable_list_0", memory_op(XENMEM_decrease_reservation, &bad), 0);
    c.expect_eq("populate_physmap_unreadable_list_0", memory_op(XENMEM_populate_physmap, &bad), 0);
    c.expect_eq("decrease_reservation_start_past_the_list", memory_op(XENMEM_decrease_reservation | (5u << 6), &bad), 5);
    c.expect_eq("reservation_unchanged_by_bad_input", current_reservation(), before);
    static e820_like_entry map[4];
    xen_memory_map_t m{};
    m.nr_entries = 4;
    set_xen_guest_handle(m.buffer, map);
    c.expect_eq("memory_map_without_a_map_enosys", memory_op(XENMEM_memory_map, &m), -XEN_ENOSYS);
}

} // namespace

// (boot.hpp) Each of our bootstrap tables is mapped at VIRT_BASE + its
// PFN, and the M2P gives the PFN.
uint64_t l1_entry_address(const Boot& b, uint64_t va) {
    const uint64_t* t = reinterpret_cast<const uint64_t*>(b.si->pt_base);
    uint64_t mfn = 0;
    for (unsigned level = 4; level > 1; level--) {
        mfn = (t[(va >> (12 + 9 * (level - 1))) & 511] & kAddr) >> 12;
        t = reinterpret_cast<const uint64_t*>(VIRT_BASE + (machine_to_phys_mapping[mfn] << 12));
    }
    return (mfn << 12) + ((va >> 12) & 511) * 8;
}

uint64_t read_entry(uint64_t entry_maddr) {
    const uint64_t mfn = entry_maddr >> 12;
    return reinterpret_cast<const volatile uint64_t*>(VIRT_BASE + (machine_to_phys_mapping[mfn] << 12))[(entry_maddr & 0xfff) / 8];
}

void run_mmu_checks(Checks& c, const Boot& b) {
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    const uint64_t n = b.si->nr_pages;
    // Frames no mapping of ours names, below the bench's (boot.hpp).
    check_pins(c, b, p2m[n - 12]);
    check_updates(c, b, p2m[n - 13], p2m[n - 14]);
    check_reservation(c, b, n - 15, n - 12, n - 13);
}

void run_l4_handover_checks(Checks& c, const Boot& b) {
    // Linux's first step with its own page tables: a copy of the bootstrap
    // L4 becomes the base pointer, the bootstrap L4 is unpinned and mapped
    // writable again (it is no table any more); then the same way back.
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    const uint64_t pt_base = b.si->pt_base;
    const uint64_t old_l4 = own_mfn(b, reinterpret_cast<const void*>(pt_base));
    const uint64_t copy = p2m[b.si->nr_pages - 18];
    if (!fill(b, copy, reinterpret_cast<const void*>(pt_base), 4096)) return;
    c.expect_eq("l4_copy_pinned", mmuext(MMUEXT_PIN_L4_TABLE, copy), 0);
    c.expect_eq("l4_copy_becomes_the_base", mmuext(MMUEXT_NEW_BASEPTR, copy), 0);
    c.expect_eq("bootstrap_l4_unpinned", mmuext(MMUEXT_UNPIN_TABLE, old_l4), 0);
    c.expect_eq("bootstrap_l4_writable_after_handover",
                update_va_mapping(pt_base, (old_l4 << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL), 0);
    const long rc = update_va_mapping(pt_base, (old_l4 << 12) | PTE_P | PTE_A, UVMF_INVLPG | UVMF_LOCAL);
    c.expect_eq("bootstrap_l4_pinned_again", rc == 0 ? mmuext(MMUEXT_PIN_L4_TABLE, old_l4) : rc, 0);
    c.expect_eq("bootstrap_l4_the_base_again", mmuext(MMUEXT_NEW_BASEPTR, old_l4), 0);
    c.expect_eq("l4_copy_unpinned", mmuext(MMUEXT_UNPIN_TABLE, copy), 0);
}

} // namespace pv
