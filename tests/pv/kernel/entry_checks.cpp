// What the domain builder hands over (ref linux-pv-boot.md 2.2-2.6): the
// registers at entry, where start_info, the page tables and the boot stack
// lie, and that the P2M array and the read-only M2P table agree. What real
// Xen 4.17 gives is in docs/pv-oracle.md.
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/memory.h>

#include "boot.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

constexpr uint64_t PAGE = 4096;

void register_checks(Checks& c, const Boot& b) {
    const EntryState& e = pv_entry_state;
    c.info("entry_registers", "rip 0x%lx rsp 0x%lx rsi 0x%lx rflags 0x%lx cs 0x%x ss 0x%x ds 0x%x es 0x%x fs 0x%x gs 0x%x",
           reinterpret_cast<uint64_t>(&_start_symbol), e.gpr[RSP], e.gpr[RSI], e.rflags, e.cs, e.ss, e.ds, e.es, e.fs,
           e.gs);
    uint64_t others = 0;
    for (int r = 0; r < 16; r++)
        if (r != RSP && r != RSI) others |= e.gpr[r];
    c.expect("entry_other_gprs_zero", others == 0, "some register other than rsp/rsi was not 0 (OR of them 0x%lx)",
             others);
    c.expect("entry_rsi_is_start_info", e.gpr[RSI] == reinterpret_cast<uint64_t>(b.si), "rsi 0x%lx", e.gpr[RSI]);
    c.expect("entry_selectors_flat", e.cs == FLAT_KERNEL_CS64 && e.ss == FLAT_KERNEL_SS64 && e.ds == 0 && e.es == 0 &&
                                         e.fs == 0 && e.gs == 0,
             "cs 0x%x ss 0x%x ds 0x%x es 0x%x fs 0x%x gs 0x%x (want cs 0x%x ss 0x%x, others 0)", e.cs, e.ss, e.ds,
             e.es, e.fs, e.gs, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64);
    // IF on (the virtual IF is the upcall mask), IOPL 0; bit 1 always reads 1.
    c.expect("entry_rflags_if_iopl0", (e.rflags & 0x3200) == 0x200, "rflags 0x%lx", e.rflags);
}

bool in_bootstrap(const Boot& b, uint64_t va) {
    return va >= VIRT_BASE && va < VIRT_BASE + b.si->nr_pages * PAGE;
}

void layout_checks(Checks& c, const Boot& b) {
    const start_info* si = b.si;
    uint64_t si_va = reinterpret_cast<uint64_t>(si);
    c.info("bootstrap_layout", "start_info 0x%lx mfn_list 0x%lx pt_base 0x%lx (%lu frames) stack top 0x%lx", si_va,
           si->mfn_list, si->pt_base, si->nr_pt_frames, pv_entry_state.gpr[RSP]);
    c.expect("bootstrap_pages_aligned_and_mapped",
             si_va % PAGE == 0 && si->pt_base % PAGE == 0 && si->mfn_list % PAGE == 0 && in_bootstrap(b, si_va) &&
                 in_bootstrap(b, si->pt_base) && in_bootstrap(b, si->mfn_list),
             "start_info 0x%lx pt_base 0x%lx mfn_list 0x%lx nr_pages %lu", si_va, si->pt_base, si->mfn_list,
             si->nr_pages);
    // The boot stack is the page after the bootstrap page tables.
    uint64_t want_rsp = si->pt_base + (si->nr_pt_frames + 1) * PAGE;
    c.expect("entry_rsp_after_page_tables", pv_entry_state.gpr[RSP] == want_rsp, "rsp 0x%lx, want 0x%lx",
             pv_entry_state.gpr[RSP], want_rsp);
}

// The M2P (machine_to_phys_mapping, read-only at HYPERVISOR_VIRT_START in
// every PV address space) inverts the P2M the builder wrote (mfn_list).
void p2m_checks(Checks& c, const Boot& b) {
    const start_info* si = b.si;
    const auto* p2m = reinterpret_cast<const uint64_t*>(si->mfn_list);
    const volatile uint64_t* m2p = machine_to_phys_mapping;
    uint64_t pfns[] = {0,
                       (reinterpret_cast<uint64_t>(&_start_symbol) - VIRT_BASE) / PAGE,
                       (reinterpret_cast<uint64_t>(si) - VIRT_BASE) / PAGE,
                       (si->pt_base - VIRT_BASE) / PAGE,
                       si->nr_pages - 1};
    bool ok = true;
    char detail[400];
    size_t len = 0;
    for (uint64_t pfn : pfns) {
        uint64_t mfn = p2m[pfn];
        uint64_t back = m2p[mfn];
        ok = ok && back == pfn;
        len += format(detail + len, sizeof detail - len, "%spfn 0x%lx -> mfn 0x%lx -> pfn 0x%lx", len ? ", " : "", pfn,
                      mfn, back);
    }
    c.info("p2m_m2p", "%s", detail);
    c.expect("p2m_m2p_agree", ok, "%s", detail);
}

void reservation_checks(Checks& c, const Boot& b) {
    domid_t self = DOMID_SELF;
    long cur = hypercall(__HYPERVISOR_memory_op, XENMEM_current_reservation, arg(&self));
    long max = hypercall(__HYPERVISOR_memory_op, XENMEM_maximum_reservation, arg(&self));
    c.info("memory_reservation", "current %ld maximum %ld nr_pages %lu", cur, max, b.si->nr_pages);
    c.expect("memory_current_reservation_is_nr_pages", cur == static_cast<long>(b.si->nr_pages),
             "current_reservation %ld, nr_pages %lu", cur, b.si->nr_pages);
}

} // namespace

void run_entry_checks(Checks& c, const Boot& b) {
    register_checks(c, b);
    layout_checks(c, b);
    p2m_checks(c, b);
    reservation_checks(c, b);
}

} // namespace pv
