// Tests for the PV domain builder's layout (xen-compat/pv_layout.*): the
// worked example of linux-pv-boot.md §2.2 number by number, the classic
// layout, Xen's rounding of the bootstrap region at and near a 4 MiB
// boundary, hostile sizes, and random sizes against the plan's invariants.
#include <boost/test/unit_test.hpp>

#include <stdint.h>
#include <xen/xen.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "err_print.hpp"
#include "pv_kernel_builder.hpp"
#include "xen-compat/pv_layout.hpp"

using namespace virtue;
using namespace virtue::xen;
using pvtest::num;
using pvtest::PvElf;

namespace {

constexpr uint64_t kVb = pvtest::kVirtBase;
constexpr uint64_t kPage = 4096;
constexpr uint64_t MiB = 1ull << 20;

PvKernel kernel(const PvElf& e) {
    auto f = e.build();
    PvKernel k;
    Status s = read_pv_kernel(f.data(), f.size(), k);
    BOOST_REQUIRE_MESSAGE(s.ok(), k.error);
    return k;
}
template <typename F> PvKernel kernel_with(F change) {
    PvElf e;
    change(e);
    return kernel(e);
}

// A kernel of one page at PFN 0 and VIRT_BASE vb, without INIT_P2M.
PvKernel one_page_kernel(uint64_t vb, bool mod_start_pfn = false) {
    return kernel_with([&](PvElf& e) {
        e.segments = {{PF_R | PF_X, 0, 0, 0x1000}};
        e.set(num(XEN_ELFNOTE_VIRT_BASE, vb));
        e.set(num(XEN_ELFNOTE_ENTRY, vb));
        e.drop(XEN_ELFNOTE_INIT_P2M);
        e.set(num(XEN_ELFNOTE_MOD_START_PFN, mod_start_pfn, 4));
    });
}

struct Planned {
    Status status;
    std::unique_ptr<PvLayout> l = std::make_unique<PvLayout>();
};

PvDomainSpec spec(uint64_t nr_pages, uint64_t initrd = 0, const char* cmdline = "console=hvc0",
                  unsigned vcpus = 1) {
    PvDomainSpec s;
    s.nr_pages = nr_pages;
    s.initrd_bytes = initrd;
    s.cmdline = cmdline;
    s.nr_vcpus = vcpus;
    return s;
}

Planned plan(const PvKernel& k, const PvDomainSpec& s) {
    Planned p;
    p.status = compute_pv_layout(k, s, *p.l);
    return p;
}

void expect_reject(const PvKernel& k, const PvDomainSpec& s, Err err, const std::string& why) {
    Planned p = plan(k, s);
    BOOST_REQUIRE(!p.status.ok());
    BOOST_CHECK_EQUAL(p.status.error(), err);
    BOOST_CHECK_EQUAL(std::string(p.l->error), why);
    BOOST_CHECK_EQUAL(p.l->nr_pages, 0u); // reset
    BOOST_CHECK_EQUAL(p.l->page_tables.pages, 0u);
}

uint64_t va_of(uint64_t vb, Pfn pfn) { return vb + pfn.raw() * kPage; }

// Everything compute_pv_layout promises about an accepted plan.
void check_invariants(const PvKernel& k, const PvDomainSpec& s, const PvLayout& l) {
    const uint64_t vb = k.notes.virt_base;
    BOOST_CHECK_EQUAL(std::string(l.error), "");
    BOOST_CHECK_EQUAL(l.nr_pages, s.nr_pages);
    BOOST_CHECK_EQUAL(l.virt_base.raw(), vb);

    // Every range inside the domain's memory, none overlapping.
    std::vector<std::pair<uint64_t, uint64_t>> used;
    for (const PvRange* r : {&l.kernel, &l.initrd, &l.p2m, &l.start_info, &l.xenstore, &l.console,
                             &l.page_tables, &l.boot_stack, &l.padding, &l.p2m_mapping.tables}) {
        if (r->pages == 0) continue;
        BOOST_REQUIRE_LE(r->pfn.raw(), s.nr_pages);
        BOOST_REQUIRE_LE(r->pages, s.nr_pages - r->pfn.raw());
        used.push_back({r->pfn.raw(), r->pfn.raw() + r->pages});
    }
    std::sort(used.begin(), used.end());
    for (size_t i = 1; i < used.size(); ++i) BOOST_CHECK_LE(used[i - 1].second, used[i].first);
    BOOST_CHECK_LE(l.first_free.raw(), s.nr_pages);
    if (!used.empty()) BOOST_CHECK_EQUAL(l.first_free.raw(), used.back().second);

    // The bootstrap region: PFN 0 up at VIRT_BASE, 4 MiB aligned end, the
    // boot pages in order, 512 KiB or more of padding.
    const uint64_t region_pages = (l.bootstrap_end.raw() - vb) / kPage;
    BOOST_CHECK_EQUAL(l.bootstrap_end.raw() % (4 * MiB), 0u);
    BOOST_CHECK_EQUAL(l.bootstrap.range.pages, region_pages);
    BOOST_CHECK_EQUAL(l.bootstrap.range.va.raw(), vb);
    for (const PvRange* r : {&l.kernel, &l.start_info, &l.xenstore, &l.console, &l.page_tables,
                             &l.boot_stack, &l.padding}) {
        BOOST_CHECK(r->mapped);
        BOOST_CHECK_EQUAL(r->va.raw(), va_of(vb, r->pfn));
        BOOST_CHECK_LE(r->pfn.raw() + r->pages, region_pages);
    }
    BOOST_CHECK_EQUAL(l.kernel.va.raw(), k.virt_start);
    BOOST_CHECK_GE(l.kernel.va.raw() + l.kernel.pages * kPage, k.virt_end);
    BOOST_CHECK_EQUAL(l.xenstore.pfn.raw(), l.start_info.pfn.raw() + 1);
    BOOST_CHECK_EQUAL(l.console.pfn.raw(), l.start_info.pfn.raw() + 2);
    BOOST_CHECK_EQUAL(l.page_tables.pfn.raw(), l.start_info.pfn.raw() + 3);
    BOOST_CHECK_EQUAL(l.boot_stack.pfn.raw(), l.page_tables.pfn.raw() + l.page_tables.pages);
    BOOST_CHECK_EQUAL(l.padding.pfn.raw(), l.boot_stack.pfn.raw() + 1);
    BOOST_CHECK_EQUAL(l.padding.pfn.raw() + l.padding.pages, region_pages);
    BOOST_CHECK_GE(l.padding.pages, 128u);

    // The bootstrap tables: L4, L3s, L2s, L1s, covering the region.
    const PvMapping& b = l.bootstrap;
    BOOST_CHECK_EQUAL(b.level[4].count, 1u);
    BOOST_CHECK(b.level[4].first == l.page_tables.pfn);
    uint64_t total = 0;
    for (int lv = 4; lv >= 1; --lv) {
        if (lv < 4) BOOST_CHECK_EQUAL(b.level[lv].first.raw(), b.level[lv + 1].first.raw() + b.level[lv + 1].count);
        total += b.level[lv].count;
    }
    for (int lv = 1; lv <= 3; ++lv) {
        unsigned shift = 12 + 9 * lv;
        BOOST_CHECK_LE(b.level[lv].va.raw(), vb);
        BOOST_CHECK_EQUAL(b.level[lv].va.raw() >> shift, vb >> shift);
        BOOST_CHECK_EQUAL(b.level[lv].count, ((l.bootstrap_end.raw() - 1) >> shift) - (vb >> shift) + 1);
    }
    BOOST_CHECK_EQUAL(total, l.page_tables.pages);
    BOOST_CHECK_EQUAL(l.nr_pt_frames, total);
    BOOST_CHECK_EQUAL(l.pt_base, l.page_tables.va.raw());
    BOOST_CHECK(l.cr3 == l.page_tables.pfn);

    // The P2M: one 8-byte entry per page.
    BOOST_CHECK_GE(l.p2m.pages * 512, s.nr_pages);
    BOOST_CHECK_LT((l.p2m.pages - 1) * 512, s.nr_pages);
    BOOST_CHECK_EQUAL(l.mfn_list, l.p2m.va.raw());
    if (l.p2m_mapped_apart) {
        BOOST_CHECK_EQUAL(l.p2m.va.raw(), k.notes.init_p2m);
        BOOST_CHECK_LT(l.p2m.va.raw() + l.p2m.pages * kPage - 1, vb);
        BOOST_CHECK_GE(l.p2m.pfn.raw(), region_pages);
        BOOST_CHECK_EQUAL(l.p2m_mapping.tables.pfn.raw(), l.p2m.pfn.raw() + l.p2m.pages);
        BOOST_CHECK_EQUAL(l.first_p2m_pfn, l.p2m.pfn.raw());
        BOOST_CHECK_EQUAL(l.nr_p2m_frames, l.p2m.pages + l.p2m_mapping.tables.pages);
        BOOST_CHECK_EQUAL(l.p2m_mapping.level[4].count, 0u);
    } else {
        BOOST_CHECK_EQUAL(l.p2m.va.raw(), va_of(vb, l.p2m.pfn));
        BOOST_CHECK_EQUAL(l.first_p2m_pfn, 0u);
        BOOST_CHECK_EQUAL(l.nr_p2m_frames, 0u);
    }

    // The initrd.
    uint64_t initrd_pages = (s.initrd_bytes + kPage - 1) / kPage;
    BOOST_CHECK_EQUAL(l.initrd.pages, initrd_pages);
    BOOST_CHECK_EQUAL(l.mod_len, initrd_pages * kPage);
    if (initrd_pages && k.notes.mod_start_pfn) {
        BOOST_CHECK(!l.initrd.mapped);
        BOOST_CHECK_EQUAL(l.initrd.pfn.raw(), region_pages);
        BOOST_CHECK_EQUAL(l.mod_start, l.initrd.pfn.raw());
        BOOST_CHECK_EQUAL(l.flags, uint32_t(SIF_MOD_START_PFN));
    } else {
        BOOST_CHECK_EQUAL(l.flags, 0u);
        if (initrd_pages) BOOST_CHECK_EQUAL(l.mod_start, va_of(vb, l.initrd.pfn));
        else BOOST_CHECK_EQUAL(l.mod_start, 0u);
    }

    BOOST_CHECK_EQUAL(l.rip, k.notes.entry);
    BOOST_CHECK_EQUAL(l.rsp, l.boot_stack.va.raw() + kPage);
    BOOST_CHECK_EQUAL(l.rsi, l.start_info.va.raw());
}

} // namespace

BOOST_AUTO_TEST_SUITE(pv_layout)

// linux-pv-boot.md §2.2, "Worked example": the cloud kernel, 256 MiB, a
// 2 MiB initrd, INIT_P2M and MOD_START_PFN used.
BOOST_AUTO_TEST_CASE(worked_example_of_the_reference) {
    PvKernel k = kernel(PvElf());
    PvDomainSpec s = spec(65536, 2 * MiB, "console=hvc0 earlyprintk=xen");
    Planned p = plan(k, s);
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    const PvLayout& l = *p.l;

    // 0x1000-0x3dff kernel image, 0xffffffff81000000-0xffffffff83dfffff.
    BOOST_CHECK_EQUAL(l.kernel.pfn.raw(), 0x1000u);
    BOOST_CHECK_EQUAL(l.kernel.pages, 0x2e00u);
    BOOST_CHECK_EQUAL(l.kernel.va.raw(), 0xffffffff81000000ull);
    // 0x3e00 start_info (-> rsi), 0x3e01 xenstore, 0x3e02 console.
    BOOST_CHECK_EQUAL(l.start_info.pfn.raw(), 0x3e00u);
    BOOST_CHECK_EQUAL(l.start_info.va.raw(), 0xffffffff83e00000ull);
    BOOST_CHECK_EQUAL(l.rsi, 0xffffffff83e00000ull);
    BOOST_CHECK_EQUAL(l.xenstore.pfn.raw(), 0x3e01u);
    BOOST_CHECK_EQUAL(l.xenstore.va.raw(), 0xffffffff83e01000ull);
    BOOST_CHECK_EQUAL(l.console.pfn.raw(), 0x3e02u);
    BOOST_CHECK_EQUAL(l.console.va.raw(), 0xffffffff83e02000ull);
    // 0x3e03 L4 (pt_base, CR3), 0x3e04 L3, 0x3e05 L2, 0x3e06-0x3e25 32 L1s
    // covering 64 MiB: nr_pt_frames = 35.
    BOOST_CHECK_EQUAL(l.page_tables.pfn.raw(), 0x3e03u);
    BOOST_CHECK_EQUAL(l.pt_base, 0xffffffff83e03000ull);
    BOOST_CHECK_EQUAL(l.cr3.raw(), 0x3e03u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[4].first.raw(), 0x3e03u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[3].first.raw(), 0x3e04u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[3].count, 1u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[2].first.raw(), 0x3e05u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[2].count, 1u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[1].first.raw(), 0x3e06u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[1].count, 32u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[1].va.raw(), 0xffffffff80000000ull);
    BOOST_CHECK_EQUAL(l.nr_pt_frames, 35u);
    // L4[511] -> L3k, L3k[510] -> L2, L2[0..31] -> the L1s.
    BOOST_CHECK_EQUAL((l.bootstrap.level[3].va.raw() >> 39) & 511, 511u);
    BOOST_CHECK_EQUAL((l.bootstrap.level[2].va.raw() >> 30) & 511, 510u);
    // 0x3e26 boot stack, rsp = 0xffffffff83e27000.
    BOOST_CHECK_EQUAL(l.boot_stack.pfn.raw(), 0x3e26u);
    BOOST_CHECK_EQUAL(l.rsp, 0xffffffff83e27000ull);
    // 0x3e27-0x3fff padding; the bootstrap VA ends at 0xffffffff84000000.
    BOOST_CHECK_EQUAL(l.padding.pfn.raw(), 0x3e27u);
    BOOST_CHECK_EQUAL(l.padding.pages, 0x4000u - 0x3e27u);
    BOOST_CHECK_EQUAL(l.bootstrap_end.raw(), 0xffffffff84000000ull);
    // 0x4000-0x41ff initrd, unmapped: mod_start = 0x4000, SIF_MOD_START_PFN,
    // mod_len = 0x200000.
    BOOST_CHECK_EQUAL(l.initrd.pfn.raw(), 0x4000u);
    BOOST_CHECK_EQUAL(l.initrd.pages, 0x200u);
    BOOST_CHECK(!l.initrd.mapped);
    BOOST_CHECK_EQUAL(l.mod_start, 0x4000u);
    BOOST_CHECK_EQUAL(l.mod_len, 0x200000u);
    BOOST_CHECK_EQUAL(l.flags, uint32_t(SIF_MOD_START_PFN));
    // 0x4200-0x427f P2M (65536 x 8 B) at 0x8000000000-0x800007ffff.
    BOOST_CHECK(l.p2m_mapped_apart);
    BOOST_CHECK_EQUAL(l.p2m.pfn.raw(), 0x4200u);
    BOOST_CHECK_EQUAL(l.p2m.pages, 0x80u);
    BOOST_CHECK_EQUAL(l.p2m.va.raw(), 0x8000000000ull);
    BOOST_CHECK_EQUAL(l.mfn_list, 0x8000000000ull);
    // 0x4280-0x4282 the P2M's L3, L2, L1: first_p2m_pfn = 0x4200,
    // nr_p2m_frames = 131. L4[1] -> L3p2m.
    BOOST_CHECK_EQUAL(l.p2m_mapping.level[3].first.raw(), 0x4280u);
    BOOST_CHECK_EQUAL(l.p2m_mapping.level[3].count, 1u);
    BOOST_CHECK_EQUAL(l.p2m_mapping.level[3].va.raw() >> 39, 1u);
    BOOST_CHECK_EQUAL(l.p2m_mapping.level[2].first.raw(), 0x4281u);
    BOOST_CHECK_EQUAL(l.p2m_mapping.level[2].count, 1u);
    BOOST_CHECK_EQUAL(l.p2m_mapping.level[1].first.raw(), 0x4282u);
    BOOST_CHECK_EQUAL(l.p2m_mapping.level[1].count, 1u);
    BOOST_CHECK_EQUAL(l.first_p2m_pfn, 0x4200u);
    BOOST_CHECK_EQUAL(l.nr_p2m_frames, 131u);
    // 0x4283-0xffff free RAM.
    BOOST_CHECK_EQUAL(l.first_free.raw(), 0x4283u);
    BOOST_CHECK_EQUAL(l.rip, 0xffffffff8304e1c0ull);
    BOOST_CHECK_EQUAL(l.cmdline_len, strlen("console=hvc0 earlyprintk=xen"));
    check_invariants(k, s, l);
}

// Without INIT_P2M and MOD_START_PFN, the initrd and the P2M go inside the
// bootstrap region, after the kernel.
BOOST_AUTO_TEST_CASE(classic_layout_maps_initrd_and_p2m) {
    PvKernel k = kernel_with([](PvElf& e) {
        e.drop(XEN_ELFNOTE_INIT_P2M);
        e.drop(XEN_ELFNOTE_MOD_START_PFN);
    });
    PvDomainSpec s = spec(65536, 2 * MiB);
    Planned p = plan(k, s);
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    const PvLayout& l = *p.l;
    BOOST_CHECK(l.initrd.mapped);
    BOOST_CHECK_EQUAL(l.initrd.pfn.raw(), 0x3e00u);
    BOOST_CHECK_EQUAL(l.mod_start, kVb + 0x3e00000);
    BOOST_CHECK_EQUAL(l.flags, 0u);
    BOOST_CHECK(!l.p2m_mapped_apart);
    BOOST_CHECK_EQUAL(l.p2m.pfn.raw(), 0x4000u);
    BOOST_CHECK_EQUAL(l.mfn_list, kVb + 0x4000000);
    BOOST_CHECK_EQUAL(l.start_info.pfn.raw(), 0x4080u);
    // E = VA of PFN 0x4083; (E + 129 pages) | (4 MiB - 1) ends the region at
    // +0x4400000; 34 L1s + L2 + L3 + L4.
    BOOST_CHECK_EQUAL(l.page_tables.pfn.raw(), 0x4083u);
    BOOST_CHECK_EQUAL(l.nr_pt_frames, 37u);
    BOOST_CHECK_EQUAL(l.bootstrap.level[1].count, 34u);
    BOOST_CHECK_EQUAL(l.boot_stack.pfn.raw(), 0x40a8u);
    BOOST_CHECK_EQUAL(l.rsp, kVb + 0x40a9000);
    BOOST_CHECK_EQUAL(l.bootstrap_end.raw(), kVb + 0x4400000);
    BOOST_CHECK_EQUAL(l.first_free.raw(), 0x4400u);
    check_invariants(k, s, l);

    // INIT_P2M above VIRT_BASE is not used (as Xen): the classic layout.
    PvKernel high = kernel_with([](PvElf& e) { e.set(num(XEN_ELFNOTE_INIT_P2M, 0xffffffffc0000000ull)); });
    Planned q = plan(high, s);
    BOOST_REQUIRE_MESSAGE(q.status.ok(), q.l->error);
    BOOST_CHECK(!q.l->p2m_mapped_apart);
    BOOST_CHECK_EQUAL(q.l->p2m.pfn.raw(), 0x3e00u);
    BOOST_CHECK_EQUAL(q.l->initrd.pfn.raw(), 0x4000u); // unmapped, after the region
    check_invariants(high, s, *q.l);
}

// Xen rounds the region's end with an OR of 4 MiB - 1: when E + 129 pages
// is on a boundary, the region grows by a whole 4 MiB.
BOOST_AUTO_TEST_CASE(region_end_on_a_boundary_moves_up) {
    // Kernel to PFN 0x3f7c: E = 0x3f7f, E + 129 = 0x4000.
    PvKernel k = kernel_with([](PvElf& e) { e.segments[3].memsz = 0x3f7c000 - 0x304e000; });
    PvDomainSpec s = spec(65536);
    Planned p = plan(k, s);
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    BOOST_CHECK_EQUAL(p.l->page_tables.pfn.raw(), 0x3f7fu);
    BOOST_CHECK_EQUAL(p.l->bootstrap_end.raw(), kVb + 0x4400000);
    BOOST_CHECK_EQUAL(p.l->nr_pt_frames, 37u);
    BOOST_CHECK_EQUAL(p.l->boot_stack.pfn.raw(), 0x3fa4u);
    check_invariants(k, s, *p.l);
}

// When the tables counted for the first end do not fit before it, Xen
// tries again with them: a second round.
BOOST_AUTO_TEST_CASE(tables_that_do_not_fit_take_a_second_round) {
    // Kernel to PFN 0x3f72: E = 0x3f75; round 1 ends at 0x4000 with 35
    // tables, but 0x3f75 + 35 + 129 = 0x4019 > 0x4000; round 2 ends at
    // 0x4400 with 37.
    PvKernel k = kernel_with([](PvElf& e) { e.segments[3].memsz = 0x3f72000 - 0x304e000; });
    PvDomainSpec s = spec(65536);
    Planned p = plan(k, s);
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    BOOST_CHECK_EQUAL(p.l->page_tables.pfn.raw(), 0x3f75u);
    BOOST_CHECK_EQUAL(p.l->nr_pt_frames, 37u);
    BOOST_CHECK_EQUAL(p.l->boot_stack.pfn.raw(), 0x3f9au);
    BOOST_CHECK_EQUAL(p.l->bootstrap_end.raw(), kVb + 0x4400000);
    check_invariants(k, s, *p.l);
}

BOOST_AUTO_TEST_CASE(memory_too_small) {
    PvKernel k = kernel(PvElf());
    expect_reject(k, spec(0), Err::InvalidArgument, "the domain has no memory (0 pages)");
    for (uint64_t pages : {0x800ull, 0x1000ull, 0x2000ull, 0x3dffull})
        BOOST_TEST_CONTEXT(pages) {
            expect_reject(k, spec(pages, 2 * MiB), Err::NoMemory, "memory too small for the kernel image");
        }
    for (uint64_t pages : {0x3e00ull, 0x3e02ull})
        BOOST_TEST_CONTEXT(pages) {
            expect_reject(k, spec(pages), Err::NoMemory, "memory too small for the kernel and the start_info pages");
        }
    for (uint64_t pages : {0x3e03ull, 0x3e10ull, 0x3fffull})
        BOOST_TEST_CONTEXT(pages) {
            expect_reject(k, spec(pages), Err::NoMemory,
                          "memory too small for the bootstrap region (kernel, boot pages, page tables, padding)");
        }
    // The region fits exactly; the initrd after it does not.
    expect_reject(k, spec(0x4000, 1), Err::NoMemory, "memory too small for the initrd after the bootstrap region");
    expect_reject(k, spec(0x4000), Err::NoMemory, "memory too small for the P2M list");
    // 0x4021 pages: a P2M of 33 pages fits exactly, its 3 tables do not.
    expect_reject(k, spec(0x4021), Err::NoMemory, "memory too small for the P2M list's page tables");
    Planned p = plan(k, spec(0x4021 + 3));
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    BOOST_CHECK_EQUAL(p.l->first_free.raw(), 0x4024u);
    check_invariants(k, spec(0x4021 + 3), *p.l);

    // Mapped initrd and P2M (no MOD_START_PFN, no INIT_P2M).
    PvKernel classic = kernel_with([](PvElf& e) {
        e.drop(XEN_ELFNOTE_INIT_P2M);
        e.drop(XEN_ELFNOTE_MOD_START_PFN);
    });
    expect_reject(classic, spec(0x3e10, 0x20000), Err::NoMemory, "memory too small for the kernel and the initrd");
    expect_reject(classic, spec(0x3e10), Err::NoMemory, "memory too small for the kernel and the P2M list");
}

BOOST_AUTO_TEST_CASE(hostile_sizes) {
    PvKernel k = kernel(PvElf());
    // A huge initrd: no overflow, a clear refusal.
    for (uint64_t bytes : std::initializer_list<uint64_t>{UINT64_MAX, UINT64_MAX - 4095, 1ull << 62, 1ull << 40})
        BOOST_TEST_CONTEXT(bytes) {
            expect_reject(k, spec(65536, bytes), Err::NoMemory,
                          "memory too small for the initrd after the bootstrap region");
        }
    PvKernel classic = kernel_with([](PvElf& e) { e.drop(XEN_ELFNOTE_MOD_START_PFN); });
    expect_reject(classic, spec(65536, UINT64_MAX), Err::NoMemory, "memory too small for the kernel and the initrd");

    expect_reject(k, spec(MACH2PHYS_NR_ENTRIES + 1), Err::Range, "more memory than the M2P table can describe");
    expect_reject(k, spec(UINT64_MAX), Err::Range, "more memory than the M2P table can describe");
    expect_reject(k, spec(65536, 0, "", 0), Err::Range, "vCPU count outside 1..32 (XEN_LEGACY_MAX_VCPUS)");
    expect_reject(k, spec(65536, 0, "", 33), Err::Range, "vCPU count outside 1..32 (XEN_LEGACY_MAX_VCPUS)");
    BOOST_CHECK(plan(k, spec(65536, 0, "", 32)).status.ok());

    std::string line(MAX_GUEST_CMDLINE - 1, 'x');
    Planned p = plan(k, spec(65536, 0, line.c_str()));
    BOOST_REQUIRE(p.status.ok());
    BOOST_CHECK_EQUAL(p.l->cmdline_len, MAX_GUEST_CMDLINE - 1);
    line.push_back('y');
    expect_reject(k, spec(65536, 0, line.c_str()), Err::Range,
                  "command line longer than start_info holds (1023 bytes)");
    p = plan(k, spec(65536, 0, nullptr));
    BOOST_REQUIRE(p.status.ok());
    BOOST_CHECK_EQUAL(p.l->cmdline_len, 0u);

    expect_reject(PvKernel{}, spec(65536), Err::InvalidArgument, "kernel not accepted by the PV kernel reader");
}

BOOST_AUTO_TEST_CASE(virtual_address_space_overflow) {
    // Near the top: the padded region would pass 2^64.
    for (uint64_t vb : {0xffffffffffc00000ull, 0xfffffffffff00000ull})
        BOOST_TEST_CONTEXT(std::hex << vb) {
            expect_reject(one_page_kernel(vb), spec(65536), Err::Range,
                          "bootstrap region runs past the top of the address space");
        }
    // Just below the top, it fits: [vb, 2^64 - 4 MiB).
    Planned p = plan(one_page_kernel(0xffffffffff800000ull), spec(65536));
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    BOOST_CHECK_EQUAL(p.l->bootstrap_end.raw(), 0xffffffffffc00000ull);
    // At the top of the lower half: a large P2M pushes the region across.
    expect_reject(one_page_kernel(0x00007fffffc00000ull), spec(0x100000), Err::Range,
                  "bootstrap region reaches the hypervisor's range or leaves its half");
    // Right above the hypervisor's range: fine.
    PvKernel low_upper = one_page_kernel(0xffff880000000000ull);
    p = plan(low_upper, spec(65536));
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    check_invariants(low_upper, spec(65536), *p.l);
}

BOOST_AUTO_TEST_CASE(p2m_mapping_at_init_p2m) {
    // A kernel in the lower half at 1 GiB, INIT_P2M below it.
    auto low_kernel = [](uint64_t init_p2m) {
        return kernel_with([&](PvElf& e) {
            e.segments = {{PF_R | PF_W | PF_X, 0, 0x1000000, 0x800000}};
            e.set(num(XEN_ELFNOTE_VIRT_BASE, 0x40000000));
            e.set(num(XEN_ELFNOTE_ENTRY, 0x41000000));
            e.set(num(XEN_ELFNOTE_INIT_P2M, init_p2m));
        });
    };
    // Overlapping the bootstrap region: 8 MiB of P2M from 0x3ff00000.
    expect_reject(low_kernel(0x3ff00000), spec(0x100000), Err::Overlap,
                  "P2M at INIT_P2M overlaps the bootstrap region");
    // At 16 MiB: it shares the bootstrap L4 and L3 (L3 index 0 covers
    // both), adds one L2 and one L1.
    PvKernel k = low_kernel(0x1000000);
    Planned p = plan(k, spec(65536));
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    const PvMapping& m = p.l->p2m_mapping;
    BOOST_CHECK_EQUAL(m.level[4].count, 0u);
    BOOST_CHECK_EQUAL(m.level[3].count, 0u);
    BOOST_CHECK_EQUAL(m.level[2].count, 1u);
    BOOST_CHECK_EQUAL(m.level[2].va.raw(), 0u);
    BOOST_CHECK_EQUAL(m.level[1].count, 1u);
    BOOST_CHECK_EQUAL(m.level[1].va.raw(), 0x1000000u);
    BOOST_CHECK_EQUAL(p.l->nr_p2m_frames, 128u + 2u);
    BOOST_CHECK_EQUAL(p.l->bootstrap.level[2].va.raw(), 0x40000000u);
    check_invariants(k, spec(65536), *p.l);
    // With VIRT_BASE not 2 MiB aligned, a P2M just below it falls under the
    // bootstrap region's first L1: it adds no table at all.
    k = kernel_with([](PvElf& e) {
        e.segments = {{PF_R | PF_W | PF_X, 0, 0x1000000, 0x800000}};
        e.set(num(XEN_ELFNOTE_VIRT_BASE, 0x40100000));
        e.set(num(XEN_ELFNOTE_ENTRY, 0x41100000));
        e.set(num(XEN_ELFNOTE_INIT_P2M, 0x40000000));
    });
    p = plan(k, spec(65536));
    BOOST_REQUIRE_MESSAGE(p.status.ok(), p.l->error);
    BOOST_CHECK(p.l->p2m_mapped_apart);
    BOOST_CHECK_EQUAL(p.l->p2m_mapping.tables.pages, 0u);
    BOOST_CHECK_EQUAL(p.l->nr_p2m_frames, 128u);
    BOOST_CHECK_EQUAL(p.l->bootstrap.level[1].va.raw(), 0x40000000u);
    check_invariants(k, spec(65536), *p.l);
}

BOOST_AUTO_TEST_CASE(random_sizes_keep_the_invariants) {
    std::mt19937_64 rng(2026);
    const PvKernel kernels[] = {
        kernel(PvElf()),
        kernel_with([](PvElf& e) {
            e.drop(XEN_ELFNOTE_INIT_P2M);
            e.drop(XEN_ELFNOTE_MOD_START_PFN);
        }),
        one_page_kernel(0x400000),
        one_page_kernel(0xffff880000000000ull, true),
    };
    int accepted = 0;
    for (int round = 0; round < 4000; ++round) {
        const PvKernel& k = kernels[rng() % 4];
        uint64_t pages = 1 + rng() % (rng() % 2 ? 0x8000 : 0x200000);
        uint64_t initrd = rng() % 3 == 0 ? 0 : rng() % (64 * MiB);
        PvDomainSpec s = spec(pages, initrd);
        Planned p = plan(k, s);
        if (p.status.ok()) {
            ++accepted;
            BOOST_TEST_CONTEXT("pages " << pages << " initrd " << initrd) { check_invariants(k, s, *p.l); }
        } else {
            BOOST_CHECK_EQUAL(p.status.error(), Err::NoMemory);
            BOOST_CHECK(std::string(p.l->error) != "");
        }
    }
    BOOST_TEST_MESSAGE("random layouts: " << accepted << " of 4000 accepted");
    BOOST_CHECK_GT(accepted, 1000);
}

// Kernels the reader accepts after random bit flips in their headers and
// notes (other bases, entries, INIT_P2M, flags): every one gets a plan
// that keeps the invariants, or a clear refusal.
BOOST_AUTO_TEST_CASE(fuzzed_kernels_are_planned_or_refused) {
    PvElf e;
    const auto good = e.build();
    const size_t hot = e.notes_offset + e.notes_size;
    std::mt19937_64 rng(7);
    int planned = 0, read_ok = 0;
    for (int round = 0; round < 20000; ++round) {
        auto f = good;
        for (int i = 0, n = 1 + int(rng() % 3); i < n; ++i) f[rng() % hot] ^= uint8_t(1u << (rng() % 8));
        PvKernel k;
        if (!read_pv_kernel(f.data(), f.size(), k).ok()) continue;
        ++read_ok;
        PvDomainSpec s = spec(1 + rng() % 0x40000, rng() % 2 ? 0 : rng() % (16 * MiB));
        Planned p = plan(k, s);
        if (p.status.ok()) {
            ++planned;
            check_invariants(k, s, *p.l);
        } else {
            BOOST_CHECK(std::string(p.l->error) != "");
            BOOST_CHECK_EQUAL(p.l->nr_pages, 0u);
        }
    }
    BOOST_TEST_MESSAGE("fuzzed kernels: " << read_ok << " read, " << planned << " planned");
    BOOST_CHECK_GT(planned, 100);
}

BOOST_AUTO_TEST_SUITE_END()
