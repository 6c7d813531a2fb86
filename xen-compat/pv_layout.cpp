// The PV domain builder's layout (see pv_layout.hpp for the rules).
#include "pv_layout.hpp"

// Only constants from these headers.
#include <stdint.h>
#include <xen/xen.h>

#include "lib/string.hpp"

namespace virtue::xen {

namespace {

constexpr uint64_t kPage = PAGE_SIZE;
// The bootstrap region ends on a 4 MiB boundary (Xen's builder's rounding)
// with a boot-stack page and 512 KiB of slack after its last element.
constexpr uint64_t kRegionAlignMask = (uint64_t{4} << 20) - 1;
constexpr uint64_t kExtraPages = 1 + (512 << 10) / kPage;
// The bootstrap tables' count grows with the region, which grows with the
// count; Xen's iteration settles in two or three rounds.
constexpr int kMaxRounds = 16;

constexpr uint64_t kHoleEnd = HYPERVISOR_VIRT_END;
constexpr uint64_t kLowerHalfEnd = 0x0000800000000000ull;

// The inclusive range [first, last] lies in the guest's part of the
// address space (one canonical half, outside the hypervisor's range).
bool in_guest_space(uint64_t first, uint64_t last) {
    if (last < first) return false;
    if (last < kLowerHalfEnd) return true;
    return first >= kHoleEnd;
}

uint64_t pages_for(uint64_t bytes) { return bytes / kPage + (bytes % kPage != 0); }

// log2 of the span one table of a level covers: an L1 maps 2 MiB, …
unsigned span_shift(int level) { return 12 + 9 * unsigned(level); }

// The inclusive table-index ranges [first, last] of levels 1..3 that cover
// an inclusive VA range; empty when first > last.
struct Blocks {
    uint64_t first[5] = {}, last[5] = {};
    bool empty(int l) const { return first[l] > last[l]; }
};

Blocks blocks_of(uint64_t va_first, uint64_t va_last) {
    Blocks b;
    for (int l = 1; l <= 3; ++l) {
        b.first[l] = va_first >> span_shift(l);
        b.last[l] = va_last >> span_shift(l);
    }
    return b;
}

// Hands out PFNs from 0 upward, never beyond the domain's memory.
class PfnCursor {
  public:
    explicit PfnCursor(uint64_t nr_pages) : limit_(nr_pages) {}
    uint64_t next() const { return next_; }
    // Takes pages PFNs into r (mapped at base + pfn * 4096 when mapped);
    // false if they do not fit.
    bool take(uint64_t pages, PvRange& r, bool mapped, uint64_t base) {
        if (pages > limit_ - next_) return false;
        r.pfn = Pfn(next_);
        r.pages = pages;
        r.mapped = mapped;
        r.va = mapped ? GuestVirt(base + next_ * kPage) : GuestVirt(0);
        next_ += pages;
        return true;
    }
    void skip_to(uint64_t pfn) { next_ = pfn; }

  private:
    uint64_t next_ = 0;
    uint64_t limit_;
};

// Assigns the tables of a mapping (L4 first, then L3s, L2s, L1s) their
// PFNs from first on and returns how many there are. own_l4: whether the
// mapping brings the L4 (only the bootstrap mapping does).
uint64_t place_tables(PvMapping& m, const Blocks& b, bool own_l4, uint64_t first) {
    uint64_t pfn = first;
    m.level[4] = PvTableLevel{Pfn(pfn), own_l4 ? 1u : 0u, GuestVirt(0)};
    pfn += m.level[4].count;
    for (int l = 3; l >= 1; --l) {
        uint64_t count = b.empty(l) ? 0 : b.last[l] - b.first[l] + 1;
        m.level[l] = PvTableLevel{Pfn(pfn), count, GuestVirt(count ? b.first[l] << span_shift(l) : 0)};
        pfn += count;
    }
    return pfn - first;
}

// The bootstrap mapping's tables for [va_first, va_last].
uint64_t count_bootstrap_tables(uint64_t va_first, uint64_t va_last) {
    Blocks b = blocks_of(va_first, va_last);
    uint64_t n = 1; // the L4
    for (int l = 1; l <= 3; ++l) n += b.last[l] - b.first[l] + 1;
    return n;
}

// The tables a second mapping needs beyond those of the first: at each
// level the indexes the first mapping's tables already cover are dropped.
// Only overlaps at an end can be dropped (as in Xen); false if the first
// mapping's tables lie strictly inside the second's at some level.
bool subtract_blocks(Blocks& b, const Blocks& taken) {
    for (int l = 1; l <= 3; ++l) {
        if (b.empty(l)) continue;
        uint64_t tf = taken.first[l], tl = taken.last[l];
        if (tl < b.first[l] || tf > b.last[l]) continue; // disjoint
        if (tf <= b.first[l] && tl >= b.last[l]) {        // all covered
            b.first[l] = 1, b.last[l] = 0;
            continue;
        }
        if (tf > b.first[l] && tl < b.last[l]) return false;
        if (tf <= b.first[l]) b.first[l] = tl + 1;
        else b.last[l] = tf - 1;
    }
    return true;
}

} // namespace

Status compute_pv_layout(const PvKernel& k, const PvDomainSpec& spec, PvLayout& out) {
    out = PvLayout{};
    auto fail = [&out](Err e, const char* why) {
        out = PvLayout{};
        out.error = why;
        return Status(e);
    };
    const PvNotes& n = k.notes;

    // The request.
    if (spec.nr_pages == 0) return fail(Err::InvalidArgument, "the domain has no memory (0 pages)");
    if (spec.nr_pages > MACH2PHYS_NR_ENTRIES)
        return fail(Err::Range, "more memory than the M2P table can describe");
    if (spec.nr_vcpus == 0 || spec.nr_vcpus > XEN_LEGACY_MAX_VCPUS)
        return fail(Err::Range, "vCPU count outside 1..32 (XEN_LEGACY_MAX_VCPUS)");
    size_t cmdline_len = spec.cmdline ? strnlen(spec.cmdline, MAX_GUEST_CMDLINE) : 0;
    if (cmdline_len >= MAX_GUEST_CMDLINE)
        return fail(Err::Range, "command line longer than start_info holds (1023 bytes)");
    // What read_pv_kernel guarantees, checked again: the plan's arithmetic
    // depends on it.
    if (k.segment_count == 0 || k.virt_end <= k.virt_start || k.virt_start < n.virt_base ||
        k.virt_start % kPage != 0 || n.virt_base % kPage != 0)
        return fail(Err::InvalidArgument, "kernel not accepted by the PV kernel reader");

    const uint64_t base = n.virt_base;
    auto va_of = [base](uint64_t pfn) { return base + pfn * kPage; };
    PfnCursor cursor(spec.nr_pages);
    out.nr_pages = spec.nr_pages;
    out.nr_vcpus = spec.nr_vcpus;
    out.cmdline_len = cmdline_len;
    out.virt_base = GuestVirt(base);

    // 1. The kernel at its PFNs.
    uint64_t kernel_pfn = (k.virt_start - base) / kPage;
    uint64_t kernel_pages = pages_for(k.virt_end - k.virt_start);
    if (kernel_pfn > spec.nr_pages) return fail(Err::NoMemory, "memory too small for the kernel image");
    cursor.skip_to(kernel_pfn);
    if (!cursor.take(kernel_pages, out.kernel, true, base))
        return fail(Err::NoMemory, "memory too small for the kernel image");

    // 2. A mapped initrd.
    uint64_t initrd_pages = pages_for(spec.initrd_bytes);
    bool initrd_unmapped = n.mod_start_pfn;
    if (initrd_pages > 0 && !initrd_unmapped) {
        if (!cursor.take(initrd_pages, out.initrd, true, base))
            return fail(Err::NoMemory, "memory too small for the kernel and the initrd");
        out.mod_start = out.initrd.va.raw();
        out.mod_len = initrd_pages * kPage;
    }

    // 3. The P2M list, here unless INIT_P2M puts it below VIRT_BASE.
    uint64_t p2m_pages = spec.nr_pages / (kPage / 8) + (spec.nr_pages % (kPage / 8) != 0);
    out.p2m_mapped_apart = n.has_init_p2m && n.init_p2m < base && n.init_p2m % kPage == 0;
    if (!out.p2m_mapped_apart) {
        if (!cursor.take(p2m_pages, out.p2m, true, base))
            return fail(Err::NoMemory, "memory too small for the kernel and the P2M list");
        out.mfn_list = out.p2m.va.raw();
    }

    // 4-6. start_info, xenstore and console pages.
    if (!cursor.take(1, out.start_info, true, base) || !cursor.take(1, out.xenstore, true, base) ||
        !cursor.take(1, out.console, true, base))
        return fail(Err::NoMemory, "memory too small for the kernel and the start_info pages");

    // 7-9. The bootstrap tables, boot stack and padding: find the region's
    // end as Xen's builder does.
    if (cursor.next() * kPage > UINT64_MAX - base) // next <= nr_pages <= 2^35: no overflow
        return fail(Err::Range, "bootstrap region runs past the top of the address space");
    const uint64_t alloc_end = va_of(cursor.next());
    uint64_t extra = kExtraPages;
    uint64_t last = 0, tables = 0;
    for (int round = 0;; ++round) {
        if (round == kMaxRounds) return fail(Err::Range, "bootstrap page-table count does not settle");
        // extra <= tables + 129 and tables < 2^40: extra * 4096 cannot overflow.
        if (extra * kPage > UINT64_MAX - alloc_end)
            return fail(Err::Range, "bootstrap region runs past the top of the address space");
        last = (alloc_end + extra * kPage) | kRegionAlignMask;
        if (last == UINT64_MAX)
            return fail(Err::Range, "bootstrap region runs past the top of the address space");
        if (!in_guest_space(base, last))
            return fail(Err::Range, "bootstrap region reaches the hypervisor's range or leaves its half");
        if ((last - base) / kPage >= spec.nr_pages)
            return fail(Err::NoMemory,
                        "memory too small for the bootstrap region (kernel, boot pages, page tables, padding)");
        tables = count_bootstrap_tables(base, last);
        extra = tables + kExtraPages;
        if (extra * kPage <= last + 1 - alloc_end) break;
    }
    const uint64_t region_pages = (last + 1 - base) / kPage;

    Blocks boot_blocks = blocks_of(base, last);
    out.bootstrap.range = PvRange{Pfn(0), region_pages, true, GuestVirt(base)};
    place_tables(out.bootstrap, boot_blocks, true, cursor.next());
    // These fit: the loop checked the whole region against the memory.
    (void)cursor.take(tables, out.page_tables, true, base);
    out.bootstrap.tables = out.page_tables;
    (void)cursor.take(1, out.boot_stack, true, base);
    (void)cursor.take(region_pages - cursor.next(), out.padding, true, base);
    out.bootstrap_end = GuestVirt(last + 1);
    out.pt_base = out.page_tables.va.raw();
    out.nr_pt_frames = tables;

    // 10. An unmapped initrd, by PFN.
    if (initrd_pages > 0 && initrd_unmapped) {
        if (!cursor.take(initrd_pages, out.initrd, false, 0))
            return fail(Err::NoMemory, "memory too small for the initrd after the bootstrap region");
        out.mod_start = out.initrd.pfn.raw();
        out.mod_len = initrd_pages * kPage;
        out.flags |= SIF_MOD_START_PFN;
    }

    // 11. The P2M list at INIT_P2M, then the tables that map it there.
    if (out.p2m_mapped_apart) {
        uint64_t from = n.init_p2m;
        if (p2m_pages * kPage - 1 > UINT64_MAX - from)
            return fail(Err::Range, "P2M at INIT_P2M runs past the top of the address space");
        uint64_t p2m_last = from + (p2m_pages * kPage - 1);
        if (!in_guest_space(from, p2m_last))
            return fail(Err::Range, "P2M at INIT_P2M leaves the guest's half of the address space");
        if (p2m_last >= base) return fail(Err::Overlap, "P2M at INIT_P2M overlaps the bootstrap region");
        Blocks b = blocks_of(from, p2m_last);
        if (!subtract_blocks(b, boot_blocks))
            return fail(Err::Overlap, "P2M at INIT_P2M straddles the bootstrap region's page tables");
        if (!cursor.take(p2m_pages, out.p2m, false, 0))
            return fail(Err::NoMemory, "memory too small for the P2M list");
        out.p2m.mapped = true;
        out.p2m.va = GuestVirt(from);
        uint64_t p2m_tables = place_tables(out.p2m_mapping, b, false, cursor.next());
        out.p2m_mapping.range = out.p2m;
        if (!cursor.take(p2m_tables, out.p2m_mapping.tables, false, 0))
            return fail(Err::NoMemory, "memory too small for the P2M list's page tables");
        out.mfn_list = from;
        out.first_p2m_pfn = out.p2m.pfn.raw();
        out.nr_p2m_frames = p2m_pages + p2m_tables;
    }
    out.first_free = Pfn(cursor.next());

    out.rip = n.entry;
    out.rsp = out.boot_stack.va.raw() + kPage;
    out.rsi = out.start_info.va.raw();
    out.cr3 = out.page_tables.pfn;
    return Status::success();
}

} // namespace virtue::xen
