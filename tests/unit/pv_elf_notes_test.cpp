// Tests for the Xen PV kernel reader (xen-compat/pv_elf_notes.*): the shape
// of Debian's cloud kernel read note by note, one case per refusal, every
// truncation of the file and a byte-flip fuzz of its headers and notes (all
// on exact-size heap copies under ASan).
#include <boost/test/unit_test.hpp>

#include <elf.h>
#include <stdint.h>
#include <string.h>
#include <xen/elfnote.h>
#include <xen/features.h>

#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "err_print.hpp"
#include "pv_kernel_builder.hpp"
#include "xen-compat/pv_elf_notes.hpp"

using namespace virtue;
using namespace virtue::xen;
using pvtest::num;
using pvtest::PvElf;
using pvtest::str;

namespace {

struct Read {
    Status status;
    std::unique_ptr<PvKernel> k = std::make_unique<PvKernel>();
};

// Reads an exact-size heap copy of f[0, len) so ASan catches any read past the end.
Read read(const std::vector<uint8_t>& f, size_t len) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[len ? len : 1]);
    if (len) memcpy(copy.get(), f.data(), len);
    Read r;
    r.status = read_pv_kernel(copy.get(), len, *r.k);
    return r;
}
Read read(const std::vector<uint8_t>& f) { return read(f, f.size()); }
Read read(const PvElf& e) { return read(e.build()); }

void expect_reject(const std::vector<uint8_t>& f, Err err, const std::string& why,
                   uint32_t note = kNoPvNote) {
    Read r = read(f);
    BOOST_REQUIRE(!r.status.ok());
    BOOST_CHECK_EQUAL(r.status.error(), err);
    BOOST_CHECK_EQUAL(std::string(r.k->error), why);
    BOOST_CHECK_EQUAL(r.k->error_note, note);
    // Nothing half-filled is left behind.
    BOOST_CHECK_EQUAL(r.k->segment_count, 0u);
    BOOST_CHECK_EQUAL(r.k->notes.virt_base, 0u);
    BOOST_CHECK_EQUAL(r.k->notes.entry, 0u);
}
void expect_reject(const PvElf& e, Err err, const std::string& why, uint32_t note = kNoPvNote) {
    expect_reject(e.build(), err, why, note);
}

template <typename F> PvElf with(F change) {
    PvElf e;
    change(e);
    return e;
}

// Everything read_pv_kernel promises about an accepted kernel.
void check_invariants(const PvKernel& k, size_t file_size) {
    BOOST_REQUIRE_GE(k.segment_count, 1u);
    BOOST_REQUIRE_LE(k.segment_count, kMaxElfSegments);
    BOOST_CHECK_EQUAL(std::string(k.error), "");
    BOOST_CHECK_EQUAL(k.virt_start, k.segments[0].vaddr);
    BOOST_CHECK_EQUAL(k.virt_start % 4096, 0u);
    BOOST_CHECK_EQUAL(k.notes.virt_base % 4096, 0u);
    BOOST_CHECK_LE(k.notes.virt_base, k.virt_start);
    bool entry_ok = false;
    uint64_t end = 0;
    for (size_t i = 0; i < k.segment_count; ++i) {
        const ElfSegment& s = k.segments[i];
        BOOST_REQUIRE_GT(s.memsz, 0u);
        BOOST_REQUIRE_LE(s.filesz, s.memsz);
        BOOST_REQUIRE_LE(s.file_offset, file_size);
        BOOST_REQUIRE_LE(s.filesz, file_size - s.file_offset);
        BOOST_REQUIRE_LE(s.memsz, UINT64_MAX - s.vaddr);
        BOOST_CHECK_GE(s.vaddr, end); // sorted, no overlap
        end = s.vaddr + s.memsz;
        // Never in the hypervisor's range, never non-canonical.
        bool lower = s.vaddr + s.memsz <= 0x0000800000000000ull;
        bool upper = s.vaddr >= 0xffff880000000000ull;
        BOOST_CHECK(lower || upper);
        if (k.notes.entry >= s.vaddr && k.notes.entry - s.vaddr < s.memsz) entry_ok = true;
    }
    BOOST_CHECK(entry_ok);
    BOOST_CHECK_EQUAL(k.virt_end, end);
    BOOST_CHECK_EQUAL(k.notes.features_required & ~kPvRequirableFeatures, 0u);
    if (k.notes.has_hypercall_page) {
        BOOST_CHECK_EQUAL(k.notes.hypercall_page % 4096, 0u);
        BOOST_CHECK_GE(k.notes.hypercall_page, k.virt_start);
        BOOST_CHECK_LT(k.notes.hypercall_page, k.virt_end);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(pv_elf_notes)

BOOST_AUTO_TEST_CASE(linux_cloud_kernel_is_read) {
    auto f = PvElf().build();
    Read r = read(f);
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    const PvKernel& k = *r.k;
    const PvNotes& n = k.notes;
    BOOST_CHECK_EQUAL(n.virt_base, 0xffffffff80000000ull);
    BOOST_CHECK_EQUAL(n.paddr_offset, 0u);
    BOOST_CHECK_EQUAL(n.entry, 0xffffffff8304e1c0ull);
    BOOST_CHECK(!n.has_hypercall_page);
    BOOST_CHECK(n.has_init_p2m);
    BOOST_CHECK_EQUAL(n.init_p2m, 0x8000000000ull);
    BOOST_CHECK(n.has_hv_start_low);
    BOOST_CHECK_EQUAL(n.hv_start_low, 0xffff800000000000ull);
    BOOST_CHECK(n.mod_start_pfn);
    BOOST_CHECK(n.suspend_cancel);
    // "!writable_page_tables|pae_pgdir_above_4gb" and 0x8801 (bits 0, 11, 15).
    BOOST_CHECK_EQUAL(n.features_required, 1u << XENFEAT_writable_page_tables);
    BOOST_CHECK_EQUAL(n.features_supported,
                      (1u << XENFEAT_writable_page_tables) | (1u << XENFEAT_pae_pgdir_above_4gb) |
                          (1u << XENFEAT_dom0) | (1u << XENFEAT_linux_rsdp_unrestricted));
    BOOST_CHECK_EQUAL(std::string(n.guest_os), "linux");
    BOOST_CHECK_EQUAL(std::string(n.guest_version), "2.6");
    BOOST_CHECK_EQUAL(std::string(n.loader), "generic");
    BOOST_CHECK_EQUAL(std::string(n.xen_version), "xen-3.0");

    // Placed by p_paddr: the per-CPU segment (p_vaddr 0) lands at
    // VIRT_BASE + 0x301a000, between .data and .init.
    BOOST_REQUIRE_EQUAL(k.segment_count, 4u);
    const uint64_t va[] = {0xffffffff81000000ull, 0xffffffff82a00000ull, 0xffffffff8301a000ull,
                           0xffffffff8304e000ull};
    const uint64_t memsz[] = {0x1826634, 0x61a000, 0x34000, 0xdb2000};
    for (size_t i = 0; i < 4; ++i) {
        BOOST_CHECK_EQUAL(k.segments[i].vaddr, va[i]);
        BOOST_CHECK_EQUAL(k.segments[i].memsz, memsz[i]);
        BOOST_CHECK_EQUAL(k.segments[i].filesz, pvtest::kSegFileBytes);
    }
    BOOST_CHECK(k.segments[0].exec && !k.segments[0].write);
    BOOST_CHECK(k.segments[3].exec && k.segments[3].write);
    BOOST_CHECK_EQUAL(k.virt_start, 0xffffffff81000000ull);
    BOOST_CHECK_EQUAL(k.virt_end, 0xffffffff83e00000ull);
    check_invariants(k, f.size());
}

BOOST_AUTO_TEST_CASE(segments_are_copied_with_the_elf_loader) {
    auto f = PvElf().build();
    Read r = read(f);
    BOOST_REQUIRE(r.status.ok());
    // The per-CPU segment: [0xffffffff8301a000, +0x34000), file bytes first.
    const ElfSegment& s = r.k->segments[2];
    std::vector<uint8_t> dst(s.memsz, 0xcc);
    BOOST_REQUIRE(copy_elf_segment(f.data(), f.size(), s, dst.data(), dst.size()).ok());
    for (uint64_t i = 0; i < s.filesz; ++i) BOOST_CHECK_EQUAL(dst[i], pvtest::pattern(s.file_offset + i));
    BOOST_CHECK(std::all_of(dst.begin() + s.filesz, dst.end(), [](uint8_t b) { return b == 0; }));
}

BOOST_AUTO_TEST_CASE(notes_from_a_section_when_no_segment_has_them) {
    PvElf e;
    e.notes_in_section = true;
    Read r = read(e);
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->notes.entry, pvtest::kLinuxEntry);
    BOOST_CHECK(r.k->notes.mod_start_pfn);

    // A section table outside the file.
    auto f = e.build();
    Elf64_Ehdr eh;
    memcpy(&eh, f.data(), sizeof eh);
    eh.e_shoff = f.size() - sizeof(Elf64_Shdr);
    memcpy(f.data(), &eh, sizeof eh);
    expect_reject(f, Err::Truncated, "section header table outside the file");
    eh.e_shoff = f.size() - 2 * sizeof(Elf64_Shdr);
    eh.e_shentsize = sizeof(Elf32_Shdr);
    memcpy(f.data(), &eh, sizeof eh);
    expect_reject(f, Err::BadFormat, "unexpected section header entry size");
}

BOOST_AUTO_TEST_CASE(notes_padded_to_eight_in_an_eight_aligned_area) {
    PvElf e;
    e.note_align = 8;
    Read r = read(e);
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->notes.entry, pvtest::kLinuxEntry);
    BOOST_CHECK_EQUAL(std::string(r.k->notes.loader), "generic");
}

BOOST_AUTO_TEST_CASE(other_owners_are_not_read) {
    // An ENTRY note of another owner, before the real one: skipped, so no
    // duplicate and not its value.
    PvElf e;
    e.notes.insert(e.notes.begin(), num(XEN_ELFNOTE_ENTRY, 0x1234, 8, "XEN"));
    e.notes.insert(e.notes.begin(), num(XEN_ELFNOTE_ENTRY, 0x1234, 8, "Xenx"));
    pvtest::Note no_nul = num(XEN_ELFNOTE_ENTRY, 0x1234);
    no_nul.raw_namesz = 3; // "Xen" without its NUL
    e.notes.insert(e.notes.begin(), no_nul);
    Read r = read(e);
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->notes.entry, pvtest::kLinuxEntry);

    // Only other owners: not a PV kernel.
    PvElf none;
    for (auto& n : none.notes) n.owner = n.owner == "Xen" ? "Xem" : n.owner;
    expect_reject(none, Err::BadFormat, "no Xen ELF notes (not a Xen PV kernel)");
    PvElf empty;
    empty.notes.clear();
    expect_reject(empty, Err::BadFormat, "no Xen ELF notes (not a Xen PV kernel)");
}

BOOST_AUTO_TEST_CASE(elf_header_errors) {
    expect_reject(with([](PvElf& e) { e.eh.e_ident[EI_CLASS] = ELFCLASS32; }), Err::BadFormat,
                  "not a 64-bit ELF");
    expect_reject(with([](PvElf& e) { e.eh.e_machine = EM_386; }), Err::BadFormat,
                  "wrong machine (not x86-64)");
    expect_reject(with([](PvElf& e) { e.eh.e_type = ET_DYN; }), Err::NotSupported,
                  "only statically linked ET_EXEC images are loaded");
    expect_reject(std::vector<uint8_t>(10, 0x7f), Err::Truncated, "file shorter than an ELF header");
    PvKernel k;
    BOOST_CHECK_EQUAL(read_pv_kernel(nullptr, 4096, k).error(), Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(truncated_notes) {
    PvElf e;
    auto f = e.build();
    auto set_note_phdr = [&](std::vector<uint8_t> g, uint64_t offset, uint64_t size) {
        Elf64_Phdr p;
        size_t at = sizeof(Elf64_Ehdr) + e.phdr_note_index * sizeof(Elf64_Phdr);
        memcpy(&p, g.data() + at, sizeof p);
        p.p_offset = offset;
        p.p_filesz = size;
        memcpy(g.data() + at, &p, sizeof p);
        return g;
    };
    // The note segment cut inside a header, a name, a descriptor.
    const uint64_t off = e.notes_offset;
    expect_reject(set_note_phdr(f, off, 5), Err::Truncated, "note header runs past its segment or section");
    expect_reject(set_note_phdr(f, off, 14), Err::Truncated, "note name runs past its segment or section");
    expect_reject(set_note_phdr(f, off, 20), Err::Truncated,
                  "note descriptor runs past its segment or section");
    // Cut just after the last note's descriptor and before its padding: fine.
    {
        PvElf odd;
        odd.notes.push_back(pvtest::Note{"Xen", 0x77, std::vector<uint8_t>(3, 1)});
        auto g = odd.build();
        Read r = read(set_note_phdr(g, odd.notes_offset, odd.notes_size - 1));
        BOOST_CHECK_MESSAGE(r.status.ok(), r.k->error);
    }
    // Sizes that point past the segment and past the file.
    {
        PvElf big;
        big.notes.push_back(pvtest::Note{"Xen", XEN_ELFNOTE_ENTRY, {}});
        auto g = big.build();
        uint32_t huge = 0xffffffff;
        // The last note: a 12-byte header and "Xen\0", no descriptor.
        const size_t header = big.notes_offset + big.notes_size - 16;
        memcpy(g.data() + header + 4, &huge, 4); // descsz
        expect_reject(g, Err::Truncated, "note descriptor runs past its segment or section");
        memcpy(g.data() + header, &huge, 4); // namesz
        expect_reject(g, Err::Truncated, "note name runs past its segment or section");
    }
    // The note segment outside the file.
    expect_reject(set_note_phdr(f, f.size(), 16), Err::Truncated, "note segment outside the file");
    expect_reject(set_note_phdr(f, off, f.size()), Err::Truncated, "note segment outside the file");
    expect_reject(set_note_phdr(f, UINT64_MAX - 4, 16), Err::Truncated, "note segment outside the file");
    // p_offset 0 (old binutils): skipped, so no notes.
    expect_reject(set_note_phdr(f, 0, 64), Err::BadFormat, "no Xen ELF notes (not a Xen PV kernel)");
}

BOOST_AUTO_TEST_CASE(note_value_errors) {
    // Numeric notes: 1, 2, 4 or 8 bytes.
    expect_reject(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_ENTRY, 0, 3)); }), Err::BadFormat,
                  "numeric Xen note is not 1, 2, 4 or 8 bytes", XEN_ELFNOTE_ENTRY);
    expect_reject(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_VIRT_BASE, 0, 16)); }), Err::BadFormat,
                  "numeric Xen note is not 1, 2, 4 or 8 bytes", XEN_ELFNOTE_VIRT_BASE);
    expect_reject(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_SUPPORTED_FEATURES, 1, 6)); }),
                  Err::BadFormat, "SUPPORTED_FEATURES is not a list of 32-bit words",
                  XEN_ELFNOTE_SUPPORTED_FEATURES);
    {
        Read r = read(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_MOD_START_PFN, 1, 1)); }));
        BOOST_CHECK(r.status.ok() && r.k->notes.mod_start_pfn);
        r = read(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_MOD_START_PFN, 0, 2)); }));
        BOOST_CHECK(r.status.ok() && !r.k->notes.mod_start_pfn);
    }
    // Strings: printable, cut for the log.
    expect_reject(with([](PvElf& e) { e.set(str(XEN_ELFNOTE_GUEST_OS, "linux\x1b[2J")); }),
                  Err::BadFormat, "string Xen note holds a non-printable byte", XEN_ELFNOTE_GUEST_OS);
    {
        Read r = read(with([](PvElf& e) { e.set(str(XEN_ELFNOTE_GUEST_VERSION, std::string(100, 'v'))); }));
        BOOST_REQUIRE(r.status.ok());
        BOOST_CHECK_EQUAL(std::string(r.k->notes.guest_version), std::string(kPvNoteStringMax, 'v'));
        // Without a NUL: up to the descriptor's end.
        pvtest::Note os{"Xen", XEN_ELFNOTE_GUEST_OS, {'l', 'i', 'n', 'u', 'x'}};
        r = read(with([&](PvElf& e) { e.set(os); }));
        BOOST_REQUIRE(r.status.ok());
        BOOST_CHECK_EQUAL(std::string(r.k->notes.guest_os), "linux");
    }
    // Once each.
    expect_reject(with([](PvElf& e) { e.notes.push_back(num(XEN_ELFNOTE_ENTRY, pvtest::kLinuxEntry)); }),
                  Err::BadFormat, "a Xen note appears twice", XEN_ELFNOTE_ENTRY);
    // Ignored notes may repeat; unknown types are skipped.
    Read r = read(with([](PvElf& e) {
        e.notes.push_back(num(XEN_ELFNOTE_PHYS32_ENTRY, 7, 3));
        e.notes.push_back(pvtest::Note{"Xen", 0x1000, std::vector<uint8_t>(5, 0xff)});
    }));
    BOOST_CHECK_MESSAGE(r.status.ok(), r.k->error);
}

BOOST_AUTO_TEST_CASE(guest_checks) {
    // LOADER "generic" or GUEST_OS "linux" (prefixes, as Xen).
    Read r = read(with([](PvElf& e) { e.drop(XEN_ELFNOTE_GUEST_OS); }));
    BOOST_CHECK(r.status.ok());
    r = read(with([](PvElf& e) { e.drop(XEN_ELFNOTE_LOADER); }));
    BOOST_CHECK(r.status.ok());
    expect_reject(with([](PvElf& e) {
                      e.set(str(XEN_ELFNOTE_GUEST_OS, "NetBSD"));
                      e.set(str(XEN_ELFNOTE_LOADER, "bsd"));
                  }),
                  Err::NotSupported, "neither LOADER \"generic\" nor GUEST_OS \"linux\"", XEN_ELFNOTE_LOADER);
    expect_reject(with([](PvElf& e) { e.set(str(XEN_ELFNOTE_XEN_VERSION, "xen-2.0")); }),
                  Err::NotSupported, "XEN_VERSION is not \"xen-3.0\"", XEN_ELFNOTE_XEN_VERSION);
    expect_reject(with([](PvElf& e) { e.drop(XEN_ELFNOTE_XEN_VERSION); }), Err::NotSupported,
                  "XEN_VERSION is not \"xen-3.0\"", XEN_ELFNOTE_XEN_VERSION);
    expect_reject(with([](PvElf& e) { e.set(str(XEN_ELFNOTE_BSD_SYMTAB, "yes")); }), Err::NotSupported,
                  "BSD_SYMTAB: loading the symbol table is not supported", XEN_ELFNOTE_BSD_SYMTAB);
    r = read(with([](PvElf& e) { e.set(str(XEN_ELFNOTE_BSD_SYMTAB, "no")); }));
    BOOST_CHECK(r.status.ok());
}

BOOST_AUTO_TEST_CASE(required_and_supported_features) {
    auto features = [](const std::string& s) {
        return with([&](PvElf& e) {
            e.set(str(XEN_ELFNOTE_FEATURES, s));
            e.drop(XEN_ELFNOTE_SUPPORTED_FEATURES);
        });
    };
    Read r = read(features("writable_page_tables||!pae_pgdir_above_4gb|frobnicate|"));
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->notes.features_required, 1u << XENFEAT_pae_pgdir_above_4gb);
    BOOST_CHECK_EQUAL(r.k->notes.features_supported,
                      (1u << XENFEAT_writable_page_tables) | (1u << XENFEAT_pae_pgdir_above_4gb));
    // Everything Virtue offers may be required.
    r = read(features("!writable_page_tables|!pae_pgdir_above_4gb|!mmu_pt_update_preserve_ad|"
                      "!highmem_assist|!gnttab_map_avail_bits|!direct_mapped"));
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->notes.features_required, kPvRequirableFeatures);

    expect_reject(features("!frobnicate"), Err::NotSupported,
                  "FEATURES requires a feature unknown to Virtue", XEN_ELFNOTE_FEATURES);
    for (unsigned bit : {XENFEAT_dom0, XENFEAT_supervisor_mode_kernel, XENFEAT_auto_translated_physmap,
                         XENFEAT_writable_descriptor_tables, XENFEAT_hvm_callback_vector}) {
        std::string name = feature_name(bit);
        BOOST_TEST_CONTEXT(name) {
            Read bad = read(features("writable_page_tables|!" + name));
            BOOST_REQUIRE(!bad.status.ok());
            BOOST_CHECK_EQUAL(bad.status.error(), Err::NotSupported);
            BOOST_CHECK_EQUAL(std::string(bad.k->error), "the kernel requires a feature Virtue does not offer");
            BOOST_CHECK_EQUAL(bad.k->error_feature, bit);
        }
    }
    BOOST_CHECK(feature_name(12) == nullptr); // grant_map_identity: deprecated, not in the header
    BOOST_CHECK_EQUAL(std::string(note_name(XEN_ELFNOTE_INIT_P2M)), "INIT_P2M");
    BOOST_CHECK_EQUAL(std::string(note_name(999)), "unknown");
}

BOOST_AUTO_TEST_CASE(virt_base_errors) {
    expect_reject(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_VIRT_BASE, pvtest::kVirtBase + 0x800)); }),
                  Err::BadFormat, "VIRT_BASE not page-aligned", XEN_ELFNOTE_VIRT_BASE);
    for (uint64_t vb : {0xffff800000000000ull, 0xffff87fffff00000ull, 0x0000800000000000ull,
                        0x1234567800000000ull})
        BOOST_TEST_CONTEXT(std::hex << vb) {
            expect_reject(with([&](PvElf& e) { e.set(num(XEN_ELFNOTE_VIRT_BASE, vb)); }), Err::Range,
                          "VIRT_BASE in the hypervisor's range or not canonical", XEN_ELFNOTE_VIRT_BASE);
        }
    // VIRT_BASE above the segments: PADDR_OFFSET past the lowest p_paddr.
    expect_reject(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_PADDR_OFFSET, 0x2000000)); }), Err::Range,
                  "segment below PADDR_OFFSET (VIRT_BASE above the segments)", XEN_ELFNOTE_PADDR_OFFSET);
    expect_reject(with([](PvElf& e) { e.drop(XEN_ELFNOTE_VIRT_BASE); }), Err::BadFormat,
                  "PADDR_OFFSET without VIRT_BASE", XEN_ELFNOTE_PADDR_OFFSET);
    // A PADDR_OFFSET that old kernels used (= VIRT_BASE, p_paddr = p_vaddr).
    Read r = read(with([](PvElf& e) {
        e.set(num(XEN_ELFNOTE_PADDR_OFFSET, pvtest::kVirtBase));
        for (auto& s : e.segments) s.paddr += pvtest::kVirtBase;
    }));
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->virt_start, 0xffffffff81000000ull);
    // Defaults: no VIRT_BASE, no PADDR_OFFSET: both 0; a low kernel.
    r = read(with([](PvElf& e) {
        e.drop(XEN_ELFNOTE_VIRT_BASE);
        e.drop(XEN_ELFNOTE_PADDR_OFFSET);
        e.drop(XEN_ELFNOTE_INIT_P2M);
        e.set(num(XEN_ELFNOTE_ENTRY, 0x304e1c0));
    }));
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->notes.virt_base, 0u);
    BOOST_CHECK_EQUAL(r.k->virt_start, 0x1000000u);
    // The image from VIRT_BASE crossing into the hypervisor's range or
    // into the other half.
    expect_reject(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_VIRT_BASE, 0x00007ffffe000000ull)); }),
                  Err::Range, "segment in the hypervisor's range or not canonical");
    expect_reject(with([](PvElf& e) {
                      e.set(num(XEN_ELFNOTE_VIRT_BASE, 0x1000));
                      e.segments = {{PF_R | PF_X, 0, 0xffffffff81000000ull, 0x1000}};
                      e.set(num(XEN_ELFNOTE_ENTRY, 0xffffffff81001000ull));
                  }),
                  Err::Range, "kernel image and VIRT_BASE in different halves of the address space",
                  XEN_ELFNOTE_VIRT_BASE);
    expect_reject(with([](PvElf& e) {
                      e.segments = {{PF_R | PF_X, 0, 0x7fffffff00000000ull, 0x1000}};
                  }),
                  Err::Range, "segment address overflows", XEN_ELFNOTE_VIRT_BASE);
}

BOOST_AUTO_TEST_CASE(entry_errors) {
    // Below, at the end, in the gap between .text and .data.
    for (uint64_t entry : {0xffffffff80000000ull, 0xffffffff83e00000ull, 0xffffffff82900000ull})
        BOOST_TEST_CONTEXT(std::hex << entry) {
            expect_reject(with([&](PvElf& e) { e.set(num(XEN_ELFNOTE_ENTRY, entry)); }), Err::Range,
                          "entry point outside the loaded segments", XEN_ELFNOTE_ENTRY);
        }
    // Without ENTRY, e_entry: vmlinux's physical 0x1000000 is outside.
    expect_reject(with([](PvElf& e) { e.drop(XEN_ELFNOTE_ENTRY); }), Err::Range,
                  "entry point outside the loaded segments", XEN_ELFNOTE_ENTRY);
    Read r = read(with([](PvElf& e) {
        e.drop(XEN_ELFNOTE_ENTRY);
        e.eh.e_entry = 0xffffffff81000000ull;
    }));
    BOOST_REQUIRE(r.status.ok());
    BOOST_CHECK_EQUAL(r.k->notes.entry, 0xffffffff81000000ull);
}

BOOST_AUTO_TEST_CASE(hypercall_page) {
    auto hp = [](uint64_t va) { return with([&](PvElf& e) { e.set(num(XEN_ELFNOTE_HYPERCALL_PAGE, va)); }); };
    Read r = read(hp(0xffffffff81001000ull));
    BOOST_REQUIRE(r.status.ok());
    BOOST_CHECK(r.k->notes.has_hypercall_page);
    BOOST_CHECK_EQUAL(r.k->notes.hypercall_page, 0xffffffff81001000ull);
    BOOST_CHECK(read(hp(0xffffffff83dff000ull)).status.ok()); // the image's last page
    expect_reject(hp(0xffffffff81001008ull), Err::BadFormat, "HYPERCALL_PAGE not page-aligned",
                  XEN_ELFNOTE_HYPERCALL_PAGE);
    for (uint64_t va : {0xffffffff83e00000ull, 0xffffffff80fff000ull, 0x1000ull})
        BOOST_TEST_CONTEXT(std::hex << va) {
            expect_reject(hp(va), Err::Range, "HYPERCALL_PAGE outside the kernel image",
                          XEN_ELFNOTE_HYPERCALL_PAGE);
        }
}

BOOST_AUTO_TEST_CASE(init_p2m_and_hv_start_low) {
    auto p2m = [](uint64_t va) { return with([&](PvElf& e) { e.set(num(XEN_ELFNOTE_INIT_P2M, va)); }); };
    expect_reject(p2m(pvtest::kInitP2m + 8), Err::BadFormat, "INIT_P2M not page-aligned", XEN_ELFNOTE_INIT_P2M);
    expect_reject(p2m(0xffff800000000000ull), Err::Range, "INIT_P2M in the hypervisor's range or not canonical",
                  XEN_ELFNOTE_INIT_P2M);
    expect_reject(p2m(0x0000800000000000ull), Err::Range, "INIT_P2M in the hypervisor's range or not canonical",
                  XEN_ELFNOTE_INIT_P2M);
    expect_reject(p2m(0xffffffff82000000ull), Err::Range, "INIT_P2M inside the kernel image",
                  XEN_ELFNOTE_INIT_P2M);
    Read r = read(with([](PvElf& e) { e.drop(XEN_ELFNOTE_INIT_P2M); }));
    BOOST_REQUIRE(r.status.ok());
    BOOST_CHECK(!r.k->notes.has_init_p2m);

    expect_reject(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_HV_START_LOW, 0xffff800000001000ull)); }),
                  Err::Range, "HV_START_LOW above the start of the hypervisor's range",
                  XEN_ELFNOTE_HV_START_LOW);
    BOOST_CHECK(read(with([](PvElf& e) { e.set(num(XEN_ELFNOTE_HV_START_LOW, 0xf5800000, 4)); })).status.ok());
}

BOOST_AUTO_TEST_CASE(segment_errors) {
    expect_reject(with([](PvElf& e) { e.segments[1].paddr = 0x2800000; }), Err::Overlap, "segments overlap");
    expect_reject(with([](PvElf& e) { e.segments[1].filesz = e.segments[1].memsz + 1; }), Err::BadFormat,
                  "segment file size larger than its memory size");
    expect_reject(with([](PvElf& e) {
                      e.segments = {{PF_R | PF_X, 0, 0x1000800, 0x4000}};
                      e.set(num(XEN_ELFNOTE_ENTRY, 0xffffffff81000900ull));
                  }),
                  Err::BadFormat, "lowest segment not page-aligned");
    expect_reject(with([](PvElf& e) { e.segments.clear(); }), Err::BadFormat, "no loadable segment");
    expect_reject(with([](PvElf& e) {
                      for (int i = 0; i < 16; ++i)
                          e.segments.push_back({PF_R, 0, 0x10000000 + uint64_t(i) * 0x1000, 0x1000});
                  }),
                  Err::Range, "too many loadable segments");
    // Segments without R/W/X, empty ones and other types are not loaded.
    Read r = read(with([](PvElf& e) {
        e.segments.push_back({0, 0, 0x2a00000, 0x1000});
        e.segments.push_back({PF_R, 0, 0x2a00000, 0, 0});
        e.segments.push_back({PF_R, 0, 0x2a00000, 0x1000, pvtest::kSegFileBytes, PT_GNU_STACK});
    }));
    BOOST_REQUIRE_MESSAGE(r.status.ok(), r.k->error);
    BOOST_CHECK_EQUAL(r.k->segment_count, 4u);

    // File bytes outside the file.
    PvElf e;
    auto f = e.build();
    Elf64_Phdr p;
    memcpy(&p, f.data() + sizeof(Elf64_Ehdr), sizeof p);
    p.p_offset = f.size() - 8;
    memcpy(f.data() + sizeof(Elf64_Ehdr), &p, sizeof p);
    expect_reject(f, Err::Truncated, "segment data outside the file");
}

BOOST_AUTO_TEST_CASE(every_truncation_is_refused_safely) {
    auto f = PvElf().build();
    for (size_t len = 0; len < f.size(); ++len) {
        Read r = read(f, len);
        BOOST_TEST_CONTEXT("length " << len) {
            BOOST_CHECK(!r.status.ok()); // the last segment's bytes end the file
            BOOST_CHECK(std::string(r.k->error) != "");
        }
    }
}

BOOST_AUTO_TEST_CASE(byte_flip_fuzz) {
    PvElf e;
    const auto good = e.build();
    // Flip bytes of the headers and the notes, where the decisions are.
    const size_t hot = e.notes_offset + e.notes_size;
    std::mt19937_64 rng(14);
    size_t accepted = 0;
    for (int round = 0; round < 20000; ++round) {
        auto f = good;
        int flips = 1 + int(rng() % 4);
        for (int i = 0; i < flips; ++i) f[rng() % hot] ^= uint8_t(1u << (rng() % 8));
        Read r = read(f);
        if (r.status.ok()) {
            ++accepted;
            check_invariants(*r.k, f.size());
        } else {
            BOOST_CHECK(std::string(r.k->error) != "");
            BOOST_CHECK_EQUAL(r.k->segment_count, 0u);
        }
    }
    BOOST_TEST_MESSAGE("byte-flip fuzz: " << accepted << " of 20000 accepted");
}

BOOST_AUTO_TEST_SUITE_END()
