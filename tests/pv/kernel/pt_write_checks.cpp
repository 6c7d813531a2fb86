// Writes to our own page tables with plain instructions: the bootstrap L1
// that maps a page of ours is mapped read-only (it is a page table), and a
// write to it must be emulated as mmu_update would do it: a mov that maps
// another frame of ours, a locked btr/bts of the RW bit, an xchg that puts
// the old entry back and returns the one it replaces. A write that would
// map a page table writable is refused: a #PF (write, present) for us.
#include <stdint.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

alignas(4096) volatile uint64_t probe_window[512];
constexpr uint64_t kAddr = 0x000ffffffffff000ull, kRw = 2;


// The VA of the bootstrap table at machine frame `mfn` (the region maps
// PFN p at VIRT_BASE + p * 4 KiB; the M2P gives p).
uint64_t* table_va(uint64_t mfn) {
    return reinterpret_cast<uint64_t*>(VIRT_BASE + (machine_to_phys_mapping[mfn] << 12));
}

} // namespace

void run_pt_write_checks(Checks& c, const Boot& b) {
    const uint64_t va = reinterpret_cast<uint64_t>(probe_window);
    uint64_t* t = reinterpret_cast<uint64_t*>(b.si->pt_base);
    for (unsigned level = 4; level > 1; level--) t = table_va((t[(va >> (12 + 9 * (level - 1))) & 511] & kAddr) >> 12);
    volatile uint64_t* pte = &t[(va >> 12) & 511];
    const uint64_t original = *pte;
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    const uint64_t other = p2m[b.si->nr_pages - 7]; // a frame no mapping of ours names
    c.info("pt_write", "pte at %p: 0x%lx; other frame 0x%lx", static_cast<volatile void*>(pte), original, other);

    // mov: map the other frame there; a marker written through it lands in it.
    *pte = (other << 12) | PTE_P | PTE_RW | PTE_A | PTE_D;
    (void)invlpg(va);
    probe_window[0] = 0x5eed5eed5eed5eedull;
    const uint64_t now = *pte;
    c.expect("pt_write_mov_maps", (now & kAddr) == (other << 12) && (now & PTE_P), "entry now 0x%lx", now);

    // lock btr / bts of RW.
    asm volatile("lock btrq $1, %0" : "+m"(*pte)::"memory");
    const uint64_t cleared = *pte;
    asm volatile("lock btsq $1, %0" : "+m"(*pte)::"memory");
    const uint64_t set = *pte;
    c.expect("pt_write_locked_bit_ops", !(cleared & kRw) && (set & kRw) && (set & kAddr) == (other << 12),
             "after btr 0x%lx, after bts 0x%lx", cleared, set);

    // xchg: the original back, the replaced entry returned.
    uint64_t swapped = original;
    asm volatile("xchgq %0, %1" : "+r"(swapped), "+m"(*pte)::"memory");
    (void)invlpg(va);
    c.expect("pt_write_xchg_restores", (swapped & kAddr) == (other << 12) && *pte == original && probe_window[0] != 0x5eed5eed5eed5eedull,
             "xchg returned 0x%lx, entry 0x%lx, window word 0x%lx", swapped, *pte, probe_window[0]);
    long rc = update_va_mapping(va, (other << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL);
    const uint64_t seen = probe_window[0];
    rc |= update_va_mapping(va, original, UVMF_INVLPG | UVMF_LOCAL);
    c.expect("pt_write_marker_in_other_frame", rc == 0 && seen == 0x5eed5eed5eed5eedull, "rc %ld, word 0x%lx", rc, seen);

    // Mapping a page table (our L4) writable: refused, a #PF for us.
    const uint64_t l4 = p2m[(b.si->pt_base - VIRT_BASE) >> 12];
    uint64_t at = 0, after = 0;
    expect_trap_at(0);
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %1\n\t"
                 "mov %1, %3\n\t"
                 "1: movq %4, %2\n\t"
                 "2:"
                 : "=&r"(at), "=&r"(after), "=m"(*pte), "=m"(*expect_trap_resume())
                 : "r"((l4 << 12) | PTE_P | PTE_RW | PTE_A | PTE_D)
                 : "memory");
    const TrapSeen pf = last_trap();
    c.expect("pt_write_refused_is_pf", pf.count == 1 && pf.vector == 14 && (pf.error & 3) == 3 && pf.rip == at && *pte == original,
             "%u deliveries, vector %lu error 0x%lx rip 0x%lx (want 0x%lx), entry 0x%lx", pf.count, pf.vector, pf.error,
             pf.rip, at, *pte);
}

} // namespace pv
