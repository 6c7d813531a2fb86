// Reader of a Xen PV kernel's ELF image and notes (see pv_elf_notes.hpp).
#include "pv_elf_notes.hpp"

// Only type and constant definitions from these headers.
#include <elf.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/elfnote.h>
#include <xen/features.h>

#include "lib/string.hpp"

namespace virtue::xen {

#define FEATURE_BIT(name) (1u << XENFEAT_##name)
const uint32_t kPvRequirableFeatures =
    FEATURE_BIT(writable_page_tables) | FEATURE_BIT(pae_pgdir_above_4gb) |
    FEATURE_BIT(mmu_pt_update_preserve_ad) | FEATURE_BIT(highmem_assist) |
    FEATURE_BIT(gnttab_map_avail_bits) | FEATURE_BIT(direct_mapped);
#undef FEATURE_BIT

namespace {

constexpr uint64_t kPage = kElfPageSize;
// The hypervisor's range (L4 slots 256-271) and the end of the lower
// canonical half.
constexpr uint64_t kHoleStart = HYPERVISOR_VIRT_START;
constexpr uint64_t kHoleEnd = HYPERVISOR_VIRT_END;
constexpr uint64_t kLowerHalfEnd = 0x0000800000000000ull;
static_assert(kHoleStart == 0xffff800000000000ull && kHoleEnd == 0xffff880000000000ull);

// Every XENFEAT_* name xen/features.h defines (grant_map_identity, 12, is
// commented out there as deprecated), as a FEATURES note spells it.
struct FeatureName {
    unsigned bit;
    const char* name;
};
#define FEATURE(name) {XENFEAT_##name, #name}
constexpr FeatureName kFeatureNames[] = {
    FEATURE(writable_page_tables),      FEATURE(writable_descriptor_tables),
    FEATURE(auto_translated_physmap),   FEATURE(supervisor_mode_kernel),
    FEATURE(pae_pgdir_above_4gb),       FEATURE(mmu_pt_update_preserve_ad),
    FEATURE(highmem_assist),            FEATURE(gnttab_map_avail_bits),
    FEATURE(hvm_callback_vector),       FEATURE(hvm_safe_pvclock),
    FEATURE(hvm_pirqs),                 FEATURE(dom0),
    FEATURE(memory_op_vnode_supported),
    FEATURE(ARM_SMCCC_supported),       FEATURE(linux_rsdp_unrestricted),
    FEATURE(not_direct_mapped),         FEATURE(direct_mapped),
};
#undef FEATURE

// How a note type's descriptor is read.
enum class Kind { Ignored, Number, String };

Kind note_kind(uint32_t type) {
    switch (type) {
    case XEN_ELFNOTE_ENTRY:
    case XEN_ELFNOTE_HYPERCALL_PAGE:
    case XEN_ELFNOTE_VIRT_BASE:
    case XEN_ELFNOTE_PADDR_OFFSET:
    case XEN_ELFNOTE_HV_START_LOW:
    case XEN_ELFNOTE_SUSPEND_CANCEL:
    case XEN_ELFNOTE_INIT_P2M:
    case XEN_ELFNOTE_MOD_START_PFN:
        return Kind::Number;
    case XEN_ELFNOTE_XEN_VERSION:
    case XEN_ELFNOTE_GUEST_OS:
    case XEN_ELFNOTE_GUEST_VERSION:
    case XEN_ELFNOTE_LOADER:
    case XEN_ELFNOTE_PAE_MODE:
    case XEN_ELFNOTE_FEATURES:
    case XEN_ELFNOTE_BSD_SYMTAB:
        return Kind::String;
    case XEN_ELFNOTE_SUPPORTED_FEATURES: // an array of 32-bit words, read on its own
        return Kind::Number;
    default: // INFO, L1_MFN_VALID, PHYS32_ENTRY, types this reader does not know
        return Kind::Ignored;
    }
}

uint64_t round_up(uint64_t v, uint64_t align) { return (v + align - 1) & ~(align - 1); }

// [start, start + len) lies in the guest's part of the address space: the
// lower canonical half, or the upper half above the hypervisor's range (up
// to the top; 2^64 is a valid exclusive end).
bool in_guest_space(uint64_t start, uint64_t len) {
    if (start < kLowerHalfEnd) return len <= kLowerHalfEnd - start;
    if (start >= kHoleEnd) return len <= 0 - start;
    return false;
}

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

bool printable(uint8_t c) { return c >= 0x20 && c < 0x7f; }

bool starts_with(const char* s, const char* prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

// Records a failure's reason in out.
Status report(PvKernel& out, Err e, const char* why, uint32_t note = kNoPvNote) {
    out.error = why;
    out.error_note = note;
    return e;
}

// Everything the walk over the notes keeps.
class NoteReader {
  public:
    NoteReader(const ElfHeader& h, PvKernel& out) : h_(h), out_(out) {}

    // Reads the notes in file bytes [offset, offset + size), padded to
    // align (4 or 8).
    Status read_area(uint64_t offset, uint64_t size, uint64_t align) {
        const uint8_t* area = h_.bytes + offset;
        uint64_t pos = 0;
        while (pos < size) {
            if (size - pos < 12) return fail(Err::Truncated, "note header runs past its segment or section");
            uint32_t namesz = load_u32(area + pos);
            uint32_t descsz = load_u32(area + pos + 4);
            uint32_t type = load_u32(area + pos + 8);
            if (namesz > size - pos - 12)
                return fail(Err::Truncated, "note name runs past its segment or section");
            const uint8_t* name = area + pos + 12;
            // Padding counts from the note's start (its header included).
            // namesz and descsz are 32-bit: no overflow in 64-bit sums below.
            uint64_t desc_at = pos + round_up(12 + uint64_t(namesz), align);
            if (desc_at > size) desc_at = size; // the name's padding may be cut at the end
            if (descsz > size - desc_at)
                return fail(Err::Truncated, "note descriptor runs past its segment or section");
            const uint8_t* desc = area + desc_at;
            pos = desc_at + round_up(descsz, align);
            if (namesz == 4 && memcmp(name, "Xen", 4) == 0) {
                ++xen_notes_;
                TRY(decode(type, desc, descsz));
            }
        }
        return Status::success();
    }

    unsigned xen_notes() const { return xen_notes_; }
    bool seen(uint32_t type) const { return type < 32 && (seen_ & (1u << type)) != 0; }
    bool bsd_symtab() const { return bsd_symtab_; }

    Status fail(Err e, const char* why, uint32_t note = kNoPvNote) { return report(out_, e, why, note); }

  private:
    Status decode(uint32_t type, const uint8_t* desc, uint32_t size) {
        Kind kind = note_kind(type);
        if (kind == Kind::Ignored) return Status::success();
        if (seen(type)) return fail(Err::BadFormat, "a Xen note appears twice", type);
        seen_ |= 1u << type;
        PvNotes& n = out_.notes;

        if (type == XEN_ELFNOTE_SUPPORTED_FEATURES) {
            // One 32-bit word per feature submap; only submap 0 exists.
            if (size == 0 || size % 4 != 0)
                return fail(Err::BadFormat, "SUPPORTED_FEATURES is not a list of 32-bit words", type);
            n.features_supported |= load_u32(desc);
            return Status::success();
        }
        if (kind == Kind::Number) {
            uint64_t v = 0;
            if (size != 1 && size != 2 && size != 4 && size != 8)
                return fail(Err::BadFormat, "numeric Xen note is not 1, 2, 4 or 8 bytes", type);
            for (uint32_t i = size; i-- > 0;) v = v << 8 | desc[i];
            switch (type) {
            case XEN_ELFNOTE_ENTRY: n.entry = v; break;
            case XEN_ELFNOTE_HYPERCALL_PAGE:
                n.has_hypercall_page = true;
                n.hypercall_page = v;
                break;
            case XEN_ELFNOTE_VIRT_BASE: n.virt_base = v; break;
            case XEN_ELFNOTE_PADDR_OFFSET: n.paddr_offset = v; break;
            case XEN_ELFNOTE_HV_START_LOW:
                n.has_hv_start_low = true;
                n.hv_start_low = v;
                break;
            case XEN_ELFNOTE_SUSPEND_CANCEL: n.suspend_cancel = v != 0; break;
            case XEN_ELFNOTE_INIT_P2M:
                n.has_init_p2m = true;
                n.init_p2m = v;
                break;
            case XEN_ELFNOTE_MOD_START_PFN: n.mod_start_pfn = v != 0; break;
            }
            return Status::success();
        }

        // A string: up to the first NUL or the descriptor's end.
        uint32_t len = 0;
        while (len < size && desc[len] != 0) {
            if (!printable(desc[len]))
                return fail(Err::BadFormat, "string Xen note holds a non-printable byte", type);
            ++len;
        }
        auto keep = [&](char* dst) {
            size_t k = len < kPvNoteStringMax ? len : kPvNoteStringMax;
            memcpy(dst, desc, k);
            dst[k] = 0;
        };
        switch (type) {
        case XEN_ELFNOTE_XEN_VERSION: keep(n.xen_version); break;
        case XEN_ELFNOTE_GUEST_OS: keep(n.guest_os); break;
        case XEN_ELFNOTE_GUEST_VERSION: keep(n.guest_version); break;
        case XEN_ELFNOTE_LOADER: keep(n.loader); break;
        case XEN_ELFNOTE_BSD_SYMTAB: bsd_symtab_ = len == 3 && memcmp(desc, "yes", 3) == 0; break;
        case XEN_ELFNOTE_FEATURES: return features(desc, len);
        default: break; // PAE_MODE: 32-bit guests only
        }
        return Status::success();
    }

    // "name|!name|…": known names set their bit in the supported set, "!"
    // also in the required set; an unknown required name is refused, an
    // unknown optional one ignored (as Xen does).
    Status features(const uint8_t* s, uint32_t len) {
        PvNotes& n = out_.notes;
        uint32_t pos = 0;
        while (pos < len) {
            uint32_t end = pos;
            while (end < len && s[end] != '|') ++end;
            uint32_t at = pos;
            bool required = at < end && s[at] == '!';
            if (required) ++at;
            pos = end + 1;
            if (at == end) continue; // empty item
            const FeatureName* found = nullptr;
            for (const FeatureName& f : kFeatureNames)
                if (strlen(f.name) == end - at && memcmp(f.name, s + at, end - at) == 0) found = &f;
            if (!found) {
                if (required)
                    return fail(Err::NotSupported, "FEATURES requires a feature unknown to Virtue",
                                XEN_ELFNOTE_FEATURES);
                continue;
            }
            n.features_supported |= 1u << found->bit;
            if (required) n.features_required |= 1u << found->bit;
        }
        return Status::success();
    }

    const ElfHeader& h_;
    PvKernel& out_;
    unsigned xen_notes_ = 0;
    uint32_t seen_ = 0;
    bool bsd_symtab_ = false;
};

bool inside_file(uint64_t offset, uint64_t len, size_t size) {
    return offset <= size && len <= size - offset;
}

// Notes are padded to 4 bytes; an area aligned to 8 pads to 8 (ELF64
// notes of the gABI, e.g. GNU property notes).
uint64_t note_alignment(uint64_t area_align) { return area_align == 8 ? 8 : 4; }

Status read_notes(const ElfHeader& h, NoteReader& r) {
    for (size_t i = 0; i < h.phnum; ++i) {
        ElfProgramHeader ph = elf_program_header(h, i);
        // p_offset 0: some binutils left note segments' offsets unset; Xen
        // skips them too.
        if (ph.type != PT_NOTE || ph.offset == 0 || ph.filesz == 0) continue;
        if (!inside_file(ph.offset, ph.filesz, h.size))
            return r.fail(Err::Truncated, "note segment outside the file");
        TRY(r.read_area(ph.offset, ph.filesz, note_alignment(ph.align)));
    }
    if (r.xen_notes() > 0) return Status::success();

    // No Xen note in the segments: look at the note sections.
    const char* why = "";
    if (Status s = elf_section_table(h, why); !s) return r.fail(s.error(), why);
    for (size_t i = 1; i < h.shnum; ++i) {
        ElfSectionHeader sh = elf_section_header(h, i);
        if (sh.type != SHT_NOTE || sh.size == 0) continue;
        if (!inside_file(sh.offset, sh.size, h.size))
            return r.fail(Err::Truncated, "note section outside the file");
        TRY(r.read_area(sh.offset, sh.size, note_alignment(sh.addralign)));
    }
    return Status::success();
}

// The checks of the notes on their own, after all are read.
Status check_notes(const NoteReader& r, PvKernel& out) {
    const PvNotes& n = out.notes;
    auto fail = [&out](Err e, const char* why, uint32_t note = kNoPvNote) {
        return report(out, e, why, note);
    };
    if (r.xen_notes() == 0) return fail(Err::BadFormat, "no Xen ELF notes (not a Xen PV kernel)");
    // Xen's acceptance rules for PV kernels.
    if (!starts_with(n.loader, "generic") && !starts_with(n.guest_os, "linux"))
        return fail(Err::NotSupported, "neither LOADER \"generic\" nor GUEST_OS \"linux\"",
                      XEN_ELFNOTE_LOADER);
    if (!starts_with(n.xen_version, "xen-3.0"))
        return fail(Err::NotSupported, "XEN_VERSION is not \"xen-3.0\"", XEN_ELFNOTE_XEN_VERSION);
    if (r.seen(XEN_ELFNOTE_PADDR_OFFSET) && !r.seen(XEN_ELFNOTE_VIRT_BASE))
        return fail(Err::BadFormat, "PADDR_OFFSET without VIRT_BASE", XEN_ELFNOTE_PADDR_OFFSET);
    if (r.bsd_symtab())
        return fail(Err::NotSupported, "BSD_SYMTAB: loading the symbol table is not supported",
                      XEN_ELFNOTE_BSD_SYMTAB);
    if (n.virt_base % kPage != 0)
        return fail(Err::BadFormat, "VIRT_BASE not page-aligned", XEN_ELFNOTE_VIRT_BASE);
    if (!in_guest_space(n.virt_base, 0))
        return fail(Err::Range, "VIRT_BASE in the hypervisor's range or not canonical",
                      XEN_ELFNOTE_VIRT_BASE);
    if (n.has_hv_start_low && n.hv_start_low > kHoleStart)
        return fail(Err::Range, "HV_START_LOW above the start of the hypervisor's range",
                      XEN_ELFNOTE_HV_START_LOW);
    return Status::success();
}

} // namespace

const char* note_name(uint32_t type) {
    switch (type) {
    case XEN_ELFNOTE_INFO: return "INFO";
    case XEN_ELFNOTE_ENTRY: return "ENTRY";
    case XEN_ELFNOTE_HYPERCALL_PAGE: return "HYPERCALL_PAGE";
    case XEN_ELFNOTE_VIRT_BASE: return "VIRT_BASE";
    case XEN_ELFNOTE_PADDR_OFFSET: return "PADDR_OFFSET";
    case XEN_ELFNOTE_XEN_VERSION: return "XEN_VERSION";
    case XEN_ELFNOTE_GUEST_OS: return "GUEST_OS";
    case XEN_ELFNOTE_GUEST_VERSION: return "GUEST_VERSION";
    case XEN_ELFNOTE_LOADER: return "LOADER";
    case XEN_ELFNOTE_PAE_MODE: return "PAE_MODE";
    case XEN_ELFNOTE_FEATURES: return "FEATURES";
    case XEN_ELFNOTE_BSD_SYMTAB: return "BSD_SYMTAB";
    case XEN_ELFNOTE_HV_START_LOW: return "HV_START_LOW";
    case XEN_ELFNOTE_L1_MFN_VALID: return "L1_MFN_VALID";
    case XEN_ELFNOTE_SUSPEND_CANCEL: return "SUSPEND_CANCEL";
    case XEN_ELFNOTE_INIT_P2M: return "INIT_P2M";
    case XEN_ELFNOTE_MOD_START_PFN: return "MOD_START_PFN";
    case XEN_ELFNOTE_SUPPORTED_FEATURES: return "SUPPORTED_FEATURES";
    case XEN_ELFNOTE_PHYS32_ENTRY: return "PHYS32_ENTRY";
    default: return "unknown";
    }
}

const char* feature_name(unsigned bit) {
    for (const FeatureName& f : kFeatureNames)
        if (f.bit == bit) return f.name;
    return nullptr;
}

Status read_pv_kernel(const void* data, size_t size, PvKernel& out) {
    out = PvKernel{};
    auto fail = [&out](Err e, const char* why, uint32_t note = kNoPvNote) {
        out = PvKernel{};
        out.error = why;
        out.error_note = note;
        return Status(e);
    };
    // A failure reported by the note reader: reset out, keep the reason.
    auto failed = [&out](Status s) {
        const char* why = out.error;
        uint32_t note = out.error_note;
        uint32_t feature = out.error_feature;
        out = PvKernel{};
        out.error = why;
        out.error_note = note;
        out.error_feature = feature;
        return s;
    };

    ElfHeader h;
    const char* why = "";
    if (Status s = elf_read_header(data, size, h, why); !s) return fail(s.error(), why);

    NoteReader r(h, out);
    if (Status s = read_notes(h, r); !s) return failed(s);
    if (Status s = check_notes(r, out); !s) return failed(s);
    PvNotes& n = out.notes;
    if (!r.seen(XEN_ELFNOTE_ENTRY)) n.entry = h.entry;

    uint32_t refused = n.features_required & ~kPvRequirableFeatures;
    if (refused != 0) {
        unsigned bit = 0;
        while (!(refused & (1u << bit))) ++bit;
        Status s = fail(Err::NotSupported, "the kernel requires a feature Virtue does not offer",
                        XEN_ELFNOTE_FEATURES);
        out.error_feature = bit;
        return s;
    }

    // The loadable segments, placed by physical address.
    for (size_t i = 0; i < h.phnum; ++i) {
        ElfProgramHeader ph = elf_program_header(h, i);
        if (ph.type != PT_LOAD || ph.memsz == 0 || (ph.flags & (PF_R | PF_W | PF_X)) == 0) continue;
        if (ph.filesz > ph.memsz)
            return fail(Err::BadFormat, "segment file size larger than its memory size");
        if (!inside_file(ph.offset, ph.filesz, size))
            return fail(Err::Truncated, "segment data outside the file");
        if (ph.paddr < n.paddr_offset)
            return fail(Err::Range, "segment below PADDR_OFFSET (VIRT_BASE above the segments)",
                        XEN_ELFNOTE_PADDR_OFFSET);
        uint64_t pseudo = ph.paddr - n.paddr_offset;
        if (pseudo > UINT64_MAX - n.virt_base)
            return fail(Err::Range, "segment address overflows", XEN_ELFNOTE_VIRT_BASE);
        uint64_t va = n.virt_base + pseudo;
        if (ph.memsz > UINT64_MAX - va) return fail(Err::Range, "segment address overflows");
        if (!in_guest_space(va, ph.memsz))
            return fail(Err::Range, "segment in the hypervisor's range or not canonical");
        if (out.segment_count == kMaxElfSegments)
            return fail(Err::Range, "too many loadable segments");
        out.segments[out.segment_count++] =
            ElfSegment{va, ph.memsz, ph.offset, ph.filesz, (ph.flags & PF_R) != 0,
                       (ph.flags & PF_W) != 0, (ph.flags & PF_X) != 0};
    }
    if (out.segment_count == 0) return fail(Err::BadFormat, "no loadable segment");
    sort_elf_segments(out.segments, out.segment_count);
    uint64_t end = 0;
    for (size_t i = 0; i < out.segment_count; ++i) {
        const ElfSegment& s = out.segments[i];
        if (i > 0 && s.vaddr < end) return fail(Err::Overlap, "segments overlap");
        end = s.vaddr + s.memsz; // checked above: no overflow
    }
    out.virt_start = out.segments[0].vaddr;
    out.virt_end = end;
    if (out.virt_start % kPage != 0) return fail(Err::BadFormat, "lowest segment not page-aligned");
    // The bootstrap region runs from VIRT_BASE through the image: one piece
    // of guest space.
    if (!in_guest_space(n.virt_base, out.virt_end - n.virt_base))
        return fail(Err::Range, "kernel image and VIRT_BASE in different halves of the address space",
                    XEN_ELFNOTE_VIRT_BASE);

    bool entry_ok = false;
    for (size_t i = 0; i < out.segment_count; ++i) {
        const ElfSegment& s = out.segments[i];
        if (n.entry >= s.vaddr && n.entry - s.vaddr < s.memsz) entry_ok = true;
    }
    if (!entry_ok) return fail(Err::Range, "entry point outside the loaded segments", XEN_ELFNOTE_ENTRY);

    if (n.has_hypercall_page) {
        if (n.hypercall_page % kPage != 0)
            return fail(Err::BadFormat, "HYPERCALL_PAGE not page-aligned", XEN_ELFNOTE_HYPERCALL_PAGE);
        // Aligned and below the image's end: the whole page is the image's.
        if (n.hypercall_page < out.virt_start || n.hypercall_page >= out.virt_end)
            return fail(Err::Range, "HYPERCALL_PAGE outside the kernel image", XEN_ELFNOTE_HYPERCALL_PAGE);
    }
    if (n.has_init_p2m) {
        if (n.init_p2m % kPage != 0)
            return fail(Err::BadFormat, "INIT_P2M not page-aligned", XEN_ELFNOTE_INIT_P2M);
        if (!in_guest_space(n.init_p2m, 0))
            return fail(Err::Range, "INIT_P2M in the hypervisor's range or not canonical",
                        XEN_ELFNOTE_INIT_P2M);
        if (n.init_p2m >= out.virt_start && n.init_p2m < out.virt_end)
            return fail(Err::Range, "INIT_P2M inside the kernel image", XEN_ELFNOTE_INIT_P2M);
    }
    return Status::success();
}

} // namespace virtue::xen
