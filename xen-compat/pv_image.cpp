// Writing and checking a PV domain's initial image (pv_image.hpp).
#include "pv_image.hpp"

#include <xen/xen.h>

#include "lib/string.hpp"

namespace virtue::xen {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t P = 1u << 0, RW = 1u << 1, US = 1u << 2, A = 1u << 5, D = 1u << 6;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
constexpr uint64_t kUpperEntry = P | RW | US | A | D; // L4-L2: 0x067
constexpr uint64_t kLeafEntry = P | RW | A;           // L1: 0x023

uint64_t* table(const PvFrames& f, uint64_t pfn) { return reinterpret_cast<uint64_t*>(f.page(f.ctx, pfn)); }
unsigned index_at(uint64_t va, unsigned level) { return static_cast<unsigned>((va >> (12 + 9 * (level - 1))) & 511); }

bool in_range(const PvRange& r, uint64_t pfn) { return pfn >= r.pfn.raw() && pfn - r.pfn.raw() < r.pages; }

// Whether pfn is one of the page tables the builder writes.
bool is_table_pfn(const PvLayout& l, uint64_t pfn) {
    return in_range(l.bootstrap.tables, pfn) || (l.p2m_mapped_apart && in_range(l.p2m_mapping.tables, pfn));
}

// The table of `level` that covers va in mapping m: its PFN.
uint64_t table_for(const PvMapping& m, unsigned level, uint64_t va) {
    const PvTableLevel& t = m.level[level];
    if (level == 4) return t.first.raw();
    const unsigned span_shift = 12 + 9 * level; // what one table of this level covers
    return t.first.raw() + ((va >> span_shift) - (t.va.raw() >> span_shift));
}

// Writes the entries of mapping m: every level's table entries pointing
// down, and the L1 leaves onto the range's PFNs.
void write_mapping(const PvLayout& l, const PvMapping& m, const PvFrames& f, uint64_t l4_pfn) {
    const uint64_t first_va = m.range.va.raw();
    for (uint64_t i = 0; i < m.range.pages; i++) {
        const uint64_t va = first_va + i * kPage;
        uint64_t parent = l4_pfn;
        for (unsigned level = 4; level >= 2; level--) {
            const uint64_t child = table_for(m, level - 1, va);
            table(f, parent)[index_at(va, level)] = (f.mfn(f.ctx, child) << 12) | kUpperEntry;
            parent = child;
        }
        const uint64_t pfn = m.range.pfn.raw() + i;
        table(f, parent)[index_at(va, 1)] = (f.mfn(f.ctx, pfn) << 12) | (is_table_pfn(l, pfn) ? kLeafEntry & ~RW : kLeafEntry);
    }
}

// The stubs of a 64-bit PV kernel's hypercall page, Xen's layout: 32 bytes
// per hypercall number, each the sequence a PV kernel uses inline
//     push %rcx; push %r11; mov $nr, %eax; syscall; pop %r11; pop %rcx; ret
// except __HYPERVISOR_iret's, which pushes RAX as well to complete the
// iret frame below it and never returns:
//     push %rcx; push %r11; push %rax; mov $23, %eax; syscall
// The rest of the page is int3.
void write_hypercall_page(uint8_t* page) {
    memset(page, 0xcc, kPage);
    for (uint32_t nr = 0; nr < kPage / 32; nr++) {
        uint8_t* p = page + nr * 32;
        const bool iret = nr == __HYPERVISOR_iret;
        size_t n = 0;
        p[n++] = 0x51;                   // push %rcx
        p[n++] = 0x41, p[n++] = 0x53;    // push %r11
        if (iret) p[n++] = 0x50;         // push %rax
        p[n++] = 0xb8;                   // mov $nr, %eax
        for (int b = 0; b < 4; b++) p[n++] = static_cast<uint8_t>(nr >> (8 * b));
        p[n++] = 0x0f, p[n++] = 0x05;    // syscall
        if (iret) continue;
        p[n++] = 0x41, p[n++] = 0x5b;    // pop %r11
        p[n++] = 0x59;                   // pop %rcx
        p[n++] = 0xc3;                   // ret
    }
}

void copy_to_pfns(const PvFrames& f, uint64_t first_pfn, uint64_t offset, const uint8_t* src, uint64_t len) {
    while (len) {
        const uint64_t pfn = first_pfn + offset / kPage, in_page = offset % kPage;
        const uint64_t n = len < kPage - in_page ? len : kPage - in_page;
        memcpy(f.page(f.ctx, pfn) + in_page, src, n);
        src += n;
        offset += n;
        len -= n;
    }
}

} // namespace

Status write_pv_image(const PvKernel& k, const PvLayout& l, const PvInputs& in, const PvBootValues& v,
                      const PvFrames& f) {
    if ((in.initrd_size != 0) != (l.initrd.pages != 0) || in.initrd_size > l.initrd.pages * kPage)
        return Err::InvalidArgument;
    const size_t cmdline_len = in.cmdline ? strlen(in.cmdline) : 0;
    if (cmdline_len != l.cmdline_len || cmdline_len >= MAX_GUEST_CMDLINE) return Err::InvalidArgument;
    // The kernel: each segment's file bytes at its place in the image's PFNs.
    for (size_t s = 0; s < k.segment_count; s++) {
        const ElfSegment& seg = k.segments[s];
        if (seg.file_offset > in.kernel_size || seg.filesz > in.kernel_size - seg.file_offset) return Err::InvalidArgument;
        const uint64_t offset = seg.vaddr - l.virt_base.raw(); // from PFN 0
        if (seg.vaddr < k.virt_start || offset + seg.memsz > (l.kernel.pfn.raw() + l.kernel.pages) * kPage)
            return Err::InvalidArgument;
        copy_to_pfns(f, 0, offset, in.kernel + seg.file_offset, seg.filesz);
    }
    if (in.initrd_size) copy_to_pfns(f, l.initrd.pfn.raw(), 0, in.initrd, in.initrd_size);
    // The hypercall page, if the kernel asked for one (read_pv_kernel
    // checked that it is a page of the image).
    if (k.notes.has_hypercall_page) {
        const uint64_t pfn = (k.notes.hypercall_page - l.virt_base.raw()) / kPage;
        if (pfn >= l.kernel.pfn.raw() + l.kernel.pages) return Err::InvalidArgument;
        write_hypercall_page(f.page(f.ctx, pfn));
    }
    // The P2M list.
    for (uint64_t pfn = 0; pfn < l.nr_pages; pfn++) {
        uint64_t* list = table(f, l.p2m.pfn.raw() + pfn / 512);
        list[pfn % 512] = f.mfn(f.ctx, pfn);
    }
    // start_info.
    auto* si = reinterpret_cast<start_info_t*>(f.page(f.ctx, l.start_info.pfn.raw()));
    memcpy(si->magic, "xen-3.0-x86_64", sizeof "xen-3.0-x86_64");
    si->nr_pages = l.nr_pages;
    si->shared_info = v.shared_info_maddr;
    si->flags = l.flags;
    si->store_mfn = f.mfn(f.ctx, l.xenstore.pfn.raw());
    si->store_evtchn = v.store_port;
    si->console.domU.mfn = f.mfn(f.ctx, l.console.pfn.raw());
    si->console.domU.evtchn = v.console_port;
    si->pt_base = l.pt_base;
    si->nr_pt_frames = l.nr_pt_frames;
    si->mfn_list = l.mfn_list;
    si->mod_start = l.mod_start;
    si->mod_len = l.mod_len;
    if (cmdline_len) memcpy(si->cmd_line, in.cmdline, cmdline_len);
    si->cmd_line[cmdline_len] = 0;
    si->first_p2m_pfn = l.first_p2m_pfn;
    si->nr_p2m_frames = l.nr_p2m_frames;
    // The page tables.
    const uint64_t l4 = l.bootstrap.level[4].first.raw();
    write_mapping(l, l.bootstrap, f, l4);
    if (l.p2m_mapped_apart) write_mapping(l, l.p2m_mapping, f, l4);
    return Status::success();
}

Status check_pv_image(const PvLayout& l, const PvFrames& f, const char** what) {
    auto fail = [what](const char* w) -> Status {
        if (what) *what = w;
        return Err::BadFormat;
    };
    // The CPU's walk: the L4 by CR3, then by MFN, which must be one of
    // the page tables the plan has (any other frame is an error).
    auto pfn_of_mfn = [&](uint64_t mfn, uint64_t& pfn) {
        const PvRange* ranges[2] = {&l.bootstrap.tables, &l.p2m_mapping.tables};
        for (unsigned i = 0; i < (l.p2m_mapped_apart ? 2u : 1u); i++)
            for (pfn = ranges[i]->pfn.raw(); pfn < ranges[i]->pfn.raw() + ranges[i]->pages; pfn++)
                if (f.mfn(f.ctx, pfn) == mfn) return true;
        return false;
    };
    struct Leaf {
        uint64_t mfn;
        bool writable, present;
    };
    auto walk = [&](uint64_t va) -> Leaf {
        uint64_t pfn = l.cr3.raw();
        for (unsigned level = 4; level >= 1; level--) {
            const uint64_t e = table(f, pfn)[index_at(va, level)];
            if (!(e & P)) return Leaf{0, false, false};
            if (level == 1) return Leaf{(e & kAddrMask) >> 12, (e & RW) != 0, true};
            if (!pfn_of_mfn((e & kAddrMask) >> 12, pfn)) return Leaf{0, false, false};
        }
        return Leaf{0, false, false};
    };
    auto check_mapping = [&](const PvMapping& m) -> Status {
        for (uint64_t i = 0; i < m.range.pages; i++) {
            const uint64_t pfn = m.range.pfn.raw() + i;
            const Leaf leaf = walk(m.range.va.raw() + i * kPage);
            if (!leaf.present) return fail("a page of the mapping is not mapped");
            if (leaf.mfn != f.mfn(f.ctx, pfn)) return fail("a page maps the wrong frame");
            if (leaf.writable == is_table_pfn(l, pfn))
                return fail(leaf.writable ? "a page table is mapped writable" : "a page is read-only");
        }
        return Status::success();
    };
    if (l.cr3.raw() != l.bootstrap.level[4].first.raw()) return fail("CR3 is not the bootstrap L4");
    TRY(check_mapping(l.bootstrap));
    if (l.p2m_mapped_apart) TRY(check_mapping(l.p2m_mapping));
    // The registers and start_info point where the plan says.
    auto va_of = [&](const PvRange& r) { return r.va.raw(); };
    if (l.rsi != va_of(l.start_info)) return fail("rsi is not start_info");
    if (l.rsp != va_of(l.boot_stack) + kPage) return fail("rsp is not the top of the boot stack");
    if (!walk(l.rip).present) return fail("the entry point is not mapped");
    const auto* si = reinterpret_cast<const start_info_t*>(f.page(f.ctx, l.start_info.pfn.raw()));
    if (memcmp(si->magic, "xen-3.0-x86_64", 15) != 0) return fail("start_info has no magic");
    if (si->pt_base != va_of(l.page_tables) || walk(si->pt_base).mfn != f.mfn(f.ctx, l.cr3.raw()))
        return fail("pt_base is not the L4");
    if (walk(si->mfn_list).mfn != f.mfn(f.ctx, l.p2m.pfn.raw())) return fail("mfn_list is not the P2M list");
    const auto* p2m = reinterpret_cast<const uint64_t*>(f.page(f.ctx, l.p2m.pfn.raw()));
    if (p2m[0] != f.mfn(f.ctx, 0)) return fail("the P2M list does not start with PFN 0's frame");
    return Status::success();
}

} // namespace virtue::xen
