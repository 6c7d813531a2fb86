// Reader of a Xen PV kernel: an ELF64 x86-64 executable that describes
// itself with Xen ELF notes (owner "Xen", types of xen/elfnote.h). It checks
// the image and its notes against everything the PV domain builder relies on
// and returns what the builder needs: where the kernel goes (VIRT_BASE,
// PADDR_OFFSET, its segments placed by physical address), where it starts
// (ENTRY), the optional hypercall page, INIT_P2M, MOD_START_PFN and the
// feature sets. Pure logic: no heap, no logging; the caller prints
// out.error (and note_name(out.error_note) when a note is to blame).
//
// What is read
// ------------
//   - The ELF header and program headers through the ELF loader's shared
//     checks (domain/elf_loader.hpp): ELFCLASS64, little-endian, ET_EXEC,
//     EM_X86_64, program header table inside the file.
//   - Notes from every PT_NOTE segment (p_offset 0 is skipped, as Xen does:
//     old binutils left it unset); if those hold no Xen note, from every
//     SHT_NOTE section. Each note is a 12-byte header (namesz, descsz, type),
//     the name and the descriptor, each padded to 4 bytes (8 when the
//     segment's or section's alignment is 8). Notes of other owners (GNU,
//     Linux) are skipped; a note's name and descriptor must lie inside its
//     segment or section, which must lie inside the file.
//   - Xen notes: numeric values are 1, 2, 4 or 8 bytes, little-endian;
//     strings end at their first NUL or at the descriptor's end, hold only
//     printable ASCII, and are kept (cut at kPvNoteStringMax) for the log.
//     A note type the reader decodes may appear once. Unknown types,
//     INFO, GUEST_VERSION's content, L1_MFN_VALID and PHYS32_ENTRY (a PVH
//     entry) are accepted and not used.
//   - PT_LOAD segments with p_memsz > 0 and any of R/W/X (as Xen's loader):
//     placed by p_paddr, at guest VA VIRT_BASE + p_paddr - PADDR_OFFSET.
//
// What is refused (the check that failed is named in out.error)
// --------------------------------------------------------------
//   - no Xen note at all; neither LOADER "generic…" nor GUEST_OS "linux…";
//     XEN_VERSION not "xen-3.0…" (Xen's own acceptance rules);
//   - PADDR_OFFSET without VIRT_BASE; VIRT_BASE not page-aligned, inside the
//     hypervisor's range (0xffff800000000000-0xffff87ffffffffff) or above
//     the lowest segment (a segment below PADDR_OFFSET);
//   - a segment whose file bytes lie outside the file, whose guest range
//     overflows, leaves its canonical half or touches the hypervisor's
//     range; two segments overlapping; more than kMaxElfSegments; a lowest
//     segment not page-aligned;
//   - ENTRY (default e_entry) outside every loaded segment;
//   - HYPERCALL_PAGE not page-aligned or not a whole page of the image;
//   - INIT_P2M not page-aligned, non-canonical, in the hypervisor's range or
//     inside the kernel image; HV_START_LOW above the hypervisor's range
//     (the kernel would claim part of it);
//   - BSD_SYMTAB "yes" (loading the symbol table is not implemented);
//   - a required feature ("!name" in FEATURES) that is unknown or not in
//     kPvRequirableFeatures.
//
// Errors: Err::Truncated (outside the file or its segment or section),
// Err::BadFormat (malformed header, note or value), Err::NotSupported (a
// valid kernel Virtue does not run), Err::Range (an address out of range),
// Err::Overlap (segments overlap), Err::InvalidArgument (data == nullptr).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "domain/elf_loader.hpp"
#include "lib/result.hpp"

namespace virtue::xen {

// Longest string kept from a string note (longer ones are cut; the checks
// look at prefixes only).
constexpr size_t kPvNoteStringMax = 31;

// Features (XENFEAT_* bits of submap 0) a kernel may require with "!name"
// in its FEATURES note, i.e. whose semantics Virtue's PV personality
// provides:
//   writable_page_tables   guest writes to its own page tables are trapped
//                          and emulated (Linux requires it; like Xen, the
//                          bit is still not reported by XENVER_get_features)
//   pae_pgdir_above_4gb    page directories anywhere (always so on x86_64)
//   mmu_pt_update_preserve_ad, highmem_assist, gnttab_map_avail_bits,
//   direct_mapped          the bits Xen reports to a 64-bit PV domU
// Not offered: writable_descriptor_tables, auto_translated_physmap,
// supervisor_mode_kernel (the guest kernel runs in ring 3), the HVM-only
// bits, dom0 (boot-time PV domains are not the control domain), and the
// rest of xen/features.h.
extern const uint32_t kPvRequirableFeatures;

// What the Xen notes say, defaults applied.
struct PvNotes {
    uint64_t virt_base = 0;      // VIRT_BASE (default 0): VA of pseudo-physical address 0
    uint64_t paddr_offset = 0;   // PADDR_OFFSET (default 0)
    uint64_t entry = 0;          // ENTRY (default e_entry): first instruction, a VA
    bool has_hypercall_page = false;
    uint64_t hypercall_page = 0; // HYPERCALL_PAGE: VA of the page to fill with stubs
    bool has_init_p2m = false;
    uint64_t init_p2m = 0;       // INIT_P2M: VA at which the kernel wants its P2M list
    bool has_hv_start_low = false;
    uint64_t hv_start_low = 0;   // HV_START_LOW: where the kernel expects the hole
    bool mod_start_pfn = false;  // MOD_START_PFN != 0: initrd may be passed unmapped, by PFN
    bool suspend_cancel = false; // SUSPEND_CANCEL != 0
    uint32_t features_supported = 0; // FEATURES names and SUPPORTED_FEATURES word 0
    uint32_t features_required = 0;  // FEATURES names marked "!"
    char guest_os[kPvNoteStringMax + 1] = {};      // GUEST_OS, e.g. "linux"
    char guest_version[kPvNoteStringMax + 1] = {}; // GUEST_VERSION, e.g. "2.6"
    char loader[kPvNoteStringMax + 1] = {};        // LOADER, e.g. "generic"
    char xen_version[kPvNoteStringMax + 1] = {};   // XEN_VERSION, e.g. "xen-3.0"
};

// No note to blame (error_note when a failure is not about one note).
constexpr uint32_t kNoPvNote = UINT32_MAX;

struct PvKernel {
    PvNotes notes;
    // PT_LOAD segments sorted by address, each with vaddr = the guest VA it
    // is loaded at (VIRT_BASE + p_paddr - PADDR_OFFSET), so that
    // copy_elf_segment fills its pages. Permissions are informational: the
    // PV builder maps the bootstrap region read-write.
    ElfSegment segments[kMaxElfSegments] = {};
    size_t segment_count = 0;
    // Guest VA range of the image: [virt_start, virt_end), virt_start
    // page-aligned, virt_end the end of the highest segment (not rounded).
    uint64_t virt_start = 0, virt_end = 0;
    const char* error = "";         // on failure: the check that failed
    uint32_t error_note = kNoPvNote; // on failure: the note type it is about, if any
    uint32_t error_feature = UINT32_MAX; // on failure: the XENFEAT_* bit refused, if any
};

// Reads and checks the PV kernel in data[0, size). Never reads outside the
// buffer, never overflows on hostile values. On failure returns the error,
// resets out and sets out.error (and out.error_note).
Status read_pv_kernel(const void* data, size_t size, PvKernel& out);

// The name of an XEN_ELFNOTE_* type for the boot log ("ENTRY", …), or
// "unknown".
const char* note_name(uint32_t type);

// The name of XENFEAT_* bit (without the prefix), or nullptr if unknown.
const char* feature_name(unsigned bit);

} // namespace virtue::xen
