// Grant host maps in a PV guest's own page tables (Domain::grant_host_maps,
// grant/grant_table.hpp): GNTTABOP_map_grant_ref with GNTMAP_host_map names
// the place of the entry by a virtual address of the caller's current
// kernel address space, or with GNTMAP_contains_pte by the machine address
// of an entry in one of its L1 tables. The entry is written as Xen writes
// it (present, accessed, dirty, no-execute, writable unless read-only, a
// guest-kernel mapping unless GNTMAP_application_map, the guest's
// GNTMAP_guest_avail bits in the PTE's available bits 9-11) and replaces
// whatever was there. Cache attributes in the grant entry are ignored: a
// granted frame is RAM and mapped write-back. The PV MMU's invariant 6
// (pv_page_tables.hpp) says what such an entry holds.
#include "pv_domain.hpp"

#include <xen/grant_table.h>

#include "arch/tlb.hpp"
#include "grant/grant_table.hpp"
#include "pv_mmu_ops.hpp"
#include "pv_page_tables.hpp"
#include "sched/scheduler.hpp"

namespace virtue::xen {
namespace {

uint64_t grant_entry(const GrantMapping& m) {
    uint64_t e = to_phys(m.frame).raw() | pte::P | pte::A | pte::D | pte::NX | pte::US;
    if (m.writable) e |= pte::RW;
    if (!(m.gntmap_flags & GNTMAP_application_map)) e |= pv::kGuestKernelBit;
    e |= uint64_t{(m.gntmap_flags >> _GNTMAP_guest_avail0) & 7} << 9;
    return e;
}

Status pv_grant_map_host(Domain& d, GrantMapping& m) {
    PvVcpu* v = pv_vcpu(*current_thread());
    if (!v) return Err::InvalidArgument;
    PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
    PvMmuEnv env(d);
    pv::PageTables<PvMmuEnv> tables(env);
    uint64_t entry;
    if (m.gntmap_flags & GNTMAP_contains_pte) {
        if (m.va & 7) return Err::InvalidArgument;
        entry = m.va;
    } else {
        pv::PvMmu<PvMmuEnv> mmu(tables, env);
        auto l1 = mmu.l1_of(v->base, m.va);
        if (!l1) return l1.error();
        entry = to_phys(*l1).raw() + ((m.va >> 12) & 511) * 8;
    }
    TRY(tables.install_grant_entry(PhysAddr(entry).mfn(), static_cast<unsigned>((entry & 0xfff) / 8), grant_entry(m)));
    m.host_entry = entry;
    return Status::success();
}

void pv_grant_unmap_host(Domain& d, GrantMapping& m) {
    PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
    {
        IrqLockGuard guard(d.grants.lock);
        if (!(m.parts & kGrantHostPart)) return;
    }
    PvMmuEnv env(d);
    pv::PageTables<PvMmuEnv> tables(env);
    (void)tables.remove_grant_entry(PhysAddr(m.host_entry).mfn(), static_cast<unsigned>((m.host_entry & 0xfff) / 8),
                                    m.frame);
    // Wherever the guest moved or copied its view of the frame meanwhile
    // (a TLB may still hold an entry the guest already replaced), no CPU
    // of the domain sees it after this.
    env.flush_stale(m.frame);
    IrqLockGuard guard(d.grants.lock);
    m.parts &= static_cast<uint8_t>(~kGrantHostPart);
}

constexpr GrantHostMapOps kPvGrantHostMaps{pv_grant_map_host, pv_grant_unmap_host};

} // namespace

const GrantHostMapOps& pv_grant_host_map_ops() { return kPvGrantHostMaps; }

} // namespace virtue::xen
