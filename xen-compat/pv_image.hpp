// Writing a planned PV domain (pv_layout.hpp) into its frames, and checking
// the result the way the CPU will read it. The frames are given by PFN
// (their contents and their MFN), so the same code runs in the hypervisor
// (partition frames through the direct map) and in host unit tests.
//
// What write_pv_image writes (as Xen's builder does; ref: docs/pv-builder.md):
//   - the kernel's segments at their PFNs (bytes past a segment's file size
//     are zero), the initrd at its PFNs;
//   - with HYPERCALL_PAGE, that page of the kernel filled with Xen's 64-bit
//     hypercall stubs (32 bytes per number);
//   - the P2M list: p2m[pfn] = MFN of pfn for every pfn < nr_pages;
//   - start_info (magic "xen-3.0-x86_64", nr_pages, the shared_info machine
//     address, flags, xenstore and console pages and ports, pt_base,
//     nr_pt_frames, mfn_list, the initrd, the command line, the P2M range);
//   - the bootstrap page tables and, with INIT_P2M, those of the P2M
//     mapping: L4-L2 entries P|RW|US|A|D, L1 entries P|RW|A with RW clear
//     for every PFN that is itself one of these page tables. The
//     hypervisor's L4 slots and the bits it adds to every entry come later,
//     when the L4 is pinned (pv_page_tables.hpp validates and adjusts).
// Frames must be zeroed beforehand; pages the plan leaves alone stay zero.
// The M2P entries (m2p[mfn] = pfn) are the caller's to set.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"
#include "pv_elf_notes.hpp"
#include "pv_layout.hpp"

namespace virtue::xen {

// The domain's frames: PFN -> contents (4 KiB, zeroed) and MFN.
struct PvFrames {
    void* ctx = nullptr;
    uint8_t* (*page)(void* ctx, uint64_t pfn) = nullptr;
    uint64_t (*mfn)(void* ctx, uint64_t pfn) = nullptr;
};

// What the hypervisor gives the new domain besides its memory.
struct PvBootValues {
    uint64_t shared_info_maddr = 0; // machine address of its shared_info page
    uint32_t console_port = 0;      // non-zero: Linux's hvc0 needs it
    uint32_t store_port = 0;        // 0: no xenstore
};

struct PvInputs {
    const uint8_t* kernel = nullptr; // the ELF image read_pv_kernel accepted
    size_t kernel_size = 0;
    const uint8_t* initrd = nullptr;
    size_t initrd_size = 0;
    const char* cmdline = nullptr;
};

// Err::InvalidArgument: inputs that do not match the layout (sizes, a
// segment's bytes outside the image).
Status write_pv_image(const PvKernel& k, const PvLayout& l, const PvInputs& in, const PvBootValues& v,
                      const PvFrames& f);

// Walks the page tables from the L4 as the CPU would and checks that every
// page of the bootstrap region (and of the P2M mapping) translates to the
// MFN of its PFN, writable exactly when it is not a page table, and that
// start_info, the boot stack, the P2M list and the entry point are where
// the registers say. On failure returns Err::BadFormat and names the first
// thing that is wrong in *what.
Status check_pv_image(const PvLayout& l, const PvFrames& f, const char** what);

} // namespace virtue::xen
