// The PV domain builder's plan: where every page of a new 64-bit PV domain
// goes, in PFNs and guest virtual addresses, computed from the kernel
// (read_pv_kernel) and the domain's size. Pure logic, no page is written:
// a later step allocates frames and writes them from this plan. The layout
// is Xen's own (its toolstack builder's), so a PV kernel finds the same
// start_info, page tables and registers on Virtue as under real Xen.
//
// The layout (all pages 4 KiB, packed from PFN 0 up)
// --------------------------------------------------
// The bootstrap region maps PFN 0 upward at VIRT_BASE (VA = VIRT_BASE +
// pfn * 4096), read-write except its own page-table pages. In it, in order:
//   1. the kernel image at its PFNs (those below it are ordinary RAM);
//   2. the initrd, if there is one and the kernel lacks MOD_START_PFN;
//   3. the P2M list (nr_pages entries of 8 bytes), unless INIT_P2M is used;
//   4. start_info, 5. the xenstore page, 6. the console page;
//   7. the bootstrap page tables: one L4, then the L3s, L2s and L1s that map
//      the whole region;
//   8. one boot-stack page;
//   9. padding, mapped RAM, so that the region ends at a 4 MiB boundary with
//      at least 512 KiB after the boot stack. Precisely, as Xen's builder
//      computes it: with E the VA after step 6 and X = 1 + 128 pages (boot
//      stack and 512 KiB), try the end ((E + X * 4096) | (4 MiB - 1)) + 1
//      (an OR: a sum already on a boundary moves up 4 MiB), count the
//      tables T that map [VIRT_BASE, end), and accept the end if
//      E + (T + X) * 4096 <= end; otherwise try again with T + X pages.
// After the region, unmapped:
//  10. the initrd, if the kernel has MOD_START_PFN (start_info gets its PFN
//      and SIF_MOD_START_PFN);
//  11. with INIT_P2M (used when it is below VIRT_BASE, as Xen does; a
//      kernel with INIT_P2M above VIRT_BASE gets the classic layout of
//      step 3), the P2M list, then the L3/L2/L1 tables that map it at
//      INIT_P2M (sharing the bootstrap L4, and any table of the bootstrap
//      mapping that covers the same range).
// Every other PFN up to nr_pages - 1 is free RAM.
//
// Refused
// -------
//   Err::InvalidArgument: nr_pages == 0, or a kernel read_pv_kernel did not
//     accept;
//   Err::Range: more pages than the M2P can describe, vCPUs outside
//     1..XEN_LEGACY_MAX_VCPUS, a command line of MAX_GUEST_CMDLINE bytes or
//     more, a bootstrap region or P2M mapping that would run past the top of
//     the address space, leave its canonical half or reach the hypervisor's
//     range;
//   Err::Overlap: the P2M mapping at INIT_P2M overlapping the bootstrap
//     region (or straddling its page tables);
//   Err::NoMemory: the domain's memory is too small for the kernel, the
//     initrd, the bootstrap region or the P2M (the reason names which).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/addr.hpp"
#include "lib/result.hpp"
#include "pv_elf_notes.hpp"

namespace virtue::xen {

// What the domain is to have besides its kernel.
struct PvDomainSpec {
    uint64_t nr_pages = 0;         // memory: PFNs 0 .. nr_pages - 1
    uint64_t initrd_bytes = 0;     // 0: no initrd
    const char* cmdline = nullptr; // NUL-terminated; nullptr is empty
    unsigned nr_vcpus = 1;
};

// Pages [pfn, pfn + pages); when mapped, at [va, va + pages * 4096).
struct PvRange {
    Pfn pfn;
    uint64_t pages = 0;
    bool mapped = false;
    GuestVirt va;
};

// The page tables of one level that one mapping adds: count tables at PFNs
// [first, first + count), the first covering the VA span starting at va
// (a span is 2 MiB for an L1, 1 GiB for an L2, 512 GiB for an L3, all of
// the address space for the L4).
struct PvTableLevel {
    Pfn first;
    uint64_t count = 0;
    GuestVirt va;
};

// One virtual range mapped page by page onto consecutive PFNs, and the page
// tables it adds (laid out L4, L3s, L2s, L1s from tables.pfn).
struct PvMapping {
    PvRange range;          // what is mapped
    PvTableLevel level[5];  // level[1] = L1s … level[4] = L4; level[0] unused
    PvRange tables;         // all of them
};

struct PvLayout {
    uint64_t nr_pages = 0;
    unsigned nr_vcpus = 0;
    size_t cmdline_len = 0; // without the NUL
    GuestVirt virt_base;

    PvRange kernel;     // the page-rounded image
    PvRange initrd;     // pages == 0: no initrd
    PvRange p2m;        // the P2M list
    PvRange start_info, xenstore, console;
    PvRange page_tables; // the bootstrap tables (= bootstrap.tables)
    PvRange boot_stack;
    PvRange padding;    // mapped RAM up to bootstrap_end
    GuestVirt bootstrap_end; // exclusive; 4 MiB aligned

    PvMapping bootstrap;      // [VIRT_BASE, bootstrap_end) onto PFN 0 upward
    bool p2m_mapped_apart = false; // INIT_P2M used
    PvMapping p2m_mapping;    // when p2m_mapped_apart: the P2M at INIT_P2M
    Pfn first_free;           // PFNs from here to nr_pages - 1 are free RAM

    // start_info fields that follow from the layout.
    uint64_t pt_base = 0;       // VA of the L4
    uint64_t nr_pt_frames = 0;  // bootstrap page tables
    uint64_t mfn_list = 0;      // VA of the P2M list
    uint64_t mod_start = 0;     // initrd: VA, or PFN with SIF_MOD_START_PFN; 0 if none
    uint64_t mod_len = 0;       // initrd bytes, page-rounded (as Xen's builder gives them)
    uint64_t first_p2m_pfn = 0; // with INIT_P2M: the P2M and its tables
    uint64_t nr_p2m_frames = 0;
    uint32_t flags = 0;         // SIF_MOD_START_PFN or 0

    // Entry state of vCPU 0.
    uint64_t rip = 0; // ENTRY
    uint64_t rsp = 0; // top of the boot stack page
    uint64_t rsi = 0; // VA of start_info
    Pfn cr3;          // the L4 (pinned by the builder)

    const char* error = ""; // on failure: which check failed
};

// Computes the layout for the kernel k (accepted by read_pv_kernel) and the
// domain spec. On failure returns the error, resets out and sets out.error.
Status compute_pv_layout(const PvKernel& k, const PvDomainSpec& spec, PvLayout& out);

} // namespace virtue::xen
