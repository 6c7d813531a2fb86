// Writing a planned PV domain into frames (xen-compat/pv_image.*): the
// Linux-shaped kernel of the reference's worked example, built into frames
// whose MFNs are not their PFNs, must pass the software walk the CPU will
// make, carry its bytes, P2M and start_info where the registers point, and
// validate as a pinned L4 under the PV MMU's rules; a corrupted table is
// caught; inputs that do not match the plan are refused.
#include <boost/test/unit_test.hpp>

#include <stdint.h>
#include <xen/xen.h>

#include <memory>
#include <string>
#include <vector>

#include "err_print.hpp"
#include "pv_kernel_builder.hpp"
#include "xen-compat/pv_image.hpp"
#include "xen-compat/pv_page_tables.hpp"

using namespace virtue;
using namespace virtue::xen;
using pvtest::PvElf;

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMfnBase = 0x40000;
constexpr domid_t kDom = 3;

// A domain's frames on the host: PFN p is MFN kMfnBase + (n - 1 - p), so a
// confusion of PFNs and MFNs cannot go unnoticed.
struct Domain {
    uint64_t n;
    std::vector<uint8_t> mem;
    std::vector<FrameInfo> info;
    explicit Domain(uint64_t pages) : n(pages), mem(pages * kPage), info(pages) {
        for (FrameInfo& f : info) f = FrameInfo{}, f.owner = kDom, f.flags = virtue::pv::kFrameGuest;
    }
    uint64_t mfn(uint64_t pfn) const { return kMfnBase + (n - 1 - pfn); }
    uint64_t pfn(uint64_t mfn) const { return n - 1 - (mfn - kMfnBase); }
    uint8_t* page(uint64_t pfn) { return &mem[pfn * kPage]; }
    PvFrames frames() {
        return PvFrames{this, [](void* c, uint64_t p) { return static_cast<Domain*>(c)->page(p); },
                        [](void* c, uint64_t p) { return static_cast<Domain*>(c)->mfn(p); }};
    }
    // The PV MMU's view (pv_page_tables.hpp Env): frames by MFN.
    FrameInfo* frame(Mfn m) {
        if (m.raw() < kMfnBase || m.raw() >= kMfnBase + n) return nullptr;
        return &info[pfn(m.raw())];
    }
    uint64_t* table(Mfn m) { return reinterpret_cast<uint64_t*>(page(pfn(m.raw()))); }
    domid_t domain() { return kDom; }
    uint64_t hypervisor_l4e(unsigned slot) { return 0xfee000ull | slot << 3 | 1; }
    void flush_stale(Mfn) {}
    void give_back(Mfn) {} // (nothing is given back while a domain is built)
};

struct Built {
    PvKernel k;
    std::unique_ptr<PvLayout> l = std::make_unique<PvLayout>();
    std::vector<uint8_t> image, initrd;
    std::unique_ptr<Domain> d;
};

// The cloud kernel's shape, `pages` of memory, a 2 MiB initrd (and a
// HYPERCALL_PAGE note when hypercall_page is not 0).
Built build(uint64_t pages, const char* cmdline = "console=hvc0 earlyprintk=xen", uint64_t hypercall_page = 0) {
    Built b;
    PvElf elf;
    if (hypercall_page) elf.set(pvtest::num(XEN_ELFNOTE_HYPERCALL_PAGE, hypercall_page));
    b.image = elf.build();
    BOOST_REQUIRE(read_pv_kernel(b.image.data(), b.image.size(), b.k).ok());
    b.initrd.resize(2 << 20);
    for (size_t i = 0; i < b.initrd.size(); i++) b.initrd[i] = uint8_t(i * 7 + 1);
    PvDomainSpec spec;
    spec.nr_pages = pages;
    spec.initrd_bytes = b.initrd.size();
    spec.cmdline = cmdline;
    BOOST_REQUIRE(compute_pv_layout(b.k, spec, *b.l).ok());
    b.d = std::make_unique<Domain>(pages);
    return b;
}

PvInputs inputs(const Built& b, const char* cmdline = "console=hvc0 earlyprintk=xen") {
    return PvInputs{b.image.data(), b.image.size(), b.initrd.data(), b.initrd.size(), cmdline};
}

} // namespace

BOOST_AUTO_TEST_SUITE(pv_image)

BOOST_AUTO_TEST_CASE(the_worked_example_is_built_as_the_cpu_will_read_it) {
    Built b = build(0x5000);
    Domain& d = *b.d;
    const PvLayout& l = *b.l;
    PvBootValues v{0x1234000, 5, 0};
    BOOST_REQUIRE(write_pv_image(b.k, l, inputs(b), v, d.frames()).ok());
    const char* what = "";
    BOOST_TEST(check_pv_image(l, d.frames(), &what).ok(), what);

    // The kernel's file bytes at the PFNs of its segments.
    for (size_t s = 0; s < b.k.segment_count; s++) {
        const ElfSegment& seg = b.k.segments[s];
        const uint64_t at = seg.vaddr - l.virt_base.raw();
        BOOST_TEST(d.mem[at] == b.image[seg.file_offset], "segment " << s);
        BOOST_TEST(d.mem[at + seg.filesz - 1] == b.image[seg.file_offset + seg.filesz - 1]);
        BOOST_TEST(d.mem[at + seg.filesz] == 0u); // bss
    }
    // The initrd after the region, unmapped (MOD_START_PFN).
    BOOST_TEST(d.mem[l.initrd.pfn.raw() * kPage + 12345] == b.initrd[12345]);
    // The P2M: every PFN's MFN.
    const auto* p2m = reinterpret_cast<const uint64_t*>(d.page(l.p2m.pfn.raw()));
    for (uint64_t pfn = 0; pfn < 512; pfn++) BOOST_REQUIRE(p2m[pfn] == d.mfn(pfn));
    const auto* p2m_last = reinterpret_cast<const uint64_t*>(d.page(l.p2m.pfn.raw() + (d.n - 1) / 512));
    BOOST_TEST(p2m_last[(d.n - 1) % 512] == d.mfn(d.n - 1));
    // start_info.
    const auto* si = reinterpret_cast<const start_info_t*>(d.page(l.start_info.pfn.raw()));
    BOOST_TEST(std::string(si->magic) == "xen-3.0-x86_64");
    BOOST_TEST(si->nr_pages == d.n);
    BOOST_TEST(si->shared_info == 0x1234000u);
    BOOST_TEST(si->console.domU.mfn == d.mfn(l.console.pfn.raw()));
    BOOST_TEST(si->console.domU.evtchn == 5u);
    BOOST_TEST(si->store_evtchn == 0u);
    BOOST_TEST(si->flags == uint32_t(SIF_MOD_START_PFN));
    BOOST_TEST(si->mod_start == l.initrd.pfn.raw());
    BOOST_TEST(si->mod_len == b.initrd.size());
    BOOST_TEST(std::string(reinterpret_cast<const char*>(si->cmd_line)) == "console=hvc0 earlyprintk=xen");
    BOOST_TEST(si->mfn_list == 0x8000000000u); // INIT_P2M
    BOOST_TEST(si->first_p2m_pfn == l.p2m.pfn.raw());
    // The bootstrap entries as Xen's builder writes them: L4[511] -> L3.
    const auto* l4 = reinterpret_cast<const uint64_t*>(d.page(l.cr3.raw()));
    BOOST_TEST(l4[511] == ((d.mfn(l.bootstrap.level[3].first.raw()) << 12) | 0x067));
    BOOST_TEST((l4[1] & 0xfff) == 0x067u); // the P2M mapping's L3 at INIT_P2M
    BOOST_TEST(l4[256] == 0u);              // hypervisor slots: filled when pinned

    // Pinned as an L4 under the PV MMU's rules, it validates, and the
    // hypervisor's slots appear.
    pv::PageTables<Domain> pt(d);
    BOOST_REQUIRE(pt.pin(Mfn(d.mfn(l.cr3.raw())), 4).ok());
    BOOST_TEST(l4[256] == d.hypervisor_l4e(256));
    BOOST_TEST(d.info[l.bootstrap.level[1].first.raw()].type == PageType::L1);
    BOOST_TEST(d.info[l.start_info.pfn.raw()].type == PageType::Writable);
    BOOST_TEST(d.info[l.cr3.raw()].type == PageType::L4);
    BOOST_REQUIRE(pt.unpin(Mfn(d.mfn(l.cr3.raw()))).ok()); // as Linux does after building its own
    BOOST_TEST(d.info[l.bootstrap.level[1].first.raw()].type_count == 0u);
}

BOOST_AUTO_TEST_CASE(the_hypercall_page_holds_xens_stubs) {
    // A page of the kernel's text: 32 bytes per hypercall number.
    constexpr uint64_t kPageVa = 0xffffffff81002000ull;
    Built b = build(0x5000, "console=hvc0 earlyprintk=xen", kPageVa);
    BOOST_REQUIRE(b.k.notes.has_hypercall_page);
    BOOST_REQUIRE(write_pv_image(b.k, *b.l, inputs(b), PvBootValues{0x1234000, 5, 0}, b.d->frames()).ok());
    const uint8_t* page = b.d->page((kPageVa - b.l->virt_base.raw()) / kPage);
    // xen_version (17): push %rcx; push %r11; mov $17, %eax; syscall; pop %r11; pop %rcx; ret
    const std::vector<uint8_t> xen_version = {0x51, 0x41, 0x53, 0xb8, 17, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3};
    BOOST_TEST(std::vector<uint8_t>(page + 17 * 32, page + 17 * 32 + 14) == xen_version, boost::test_tools::per_element());
    // iret (23): push %rcx; push %r11; push %rax; mov $23, %eax; syscall (no return)
    const std::vector<uint8_t> iret = {0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05};
    BOOST_TEST(std::vector<uint8_t>(page + 23 * 32, page + 23 * 32 + 11) == iret, boost::test_tools::per_element());
    BOOST_TEST(page[23 * 32 + 11] == 0xccu);
    // The last slot, and int3 after each stub.
    BOOST_TEST(page[127 * 32 + 4] == 127u);
    BOOST_TEST(page[17 * 32 + 14] == 0xccu);
    BOOST_TEST(page[4095] == 0xccu);
}

BOOST_AUTO_TEST_CASE(a_corrupted_image_is_caught) {
    Built b = build(0x5000);
    Domain& d = *b.d;
    const PvLayout& l = *b.l;
    BOOST_REQUIRE(write_pv_image(b.k, l, inputs(b), PvBootValues{0x1000, 1, 0}, d.frames()).ok());
    const char* what = "";
    // An L1 entry of a page table made writable.
    auto* l1 = reinterpret_cast<uint64_t*>(d.page(l.bootstrap.level[1].first.raw()));
    const uint64_t pt_slot = l.page_tables.pfn.raw() % 512; // the L4's own page, in the L1 covering it
    auto* l1_of_tables = reinterpret_cast<uint64_t*>(
        d.page(l.bootstrap.level[1].first.raw() + l.page_tables.pfn.raw() / 512));
    l1_of_tables[pt_slot] |= 2;
    BOOST_TEST(check_pv_image(l, d.frames(), &what).error() == Err::BadFormat);
    BOOST_TEST(std::string(what) == "a page table is mapped writable");
    l1_of_tables[pt_slot] &= ~uint64_t{2};
    BOOST_TEST(check_pv_image(l, d.frames(), &what).ok(), what);
    // A page mapping the wrong frame.
    l1[0x10] += 1ull << 12;
    BOOST_TEST(check_pv_image(l, d.frames(), &what).error() == Err::BadFormat);
    BOOST_TEST(std::string(what) == "a page maps the wrong frame");
    l1[0x10] -= 1ull << 12;
    // A hole.
    const uint64_t saved = l1[0x20];
    l1[0x20] = 0;
    BOOST_TEST(check_pv_image(l, d.frames(), &what).error() == Err::BadFormat);
    l1[0x20] = saved;
    BOOST_TEST(check_pv_image(l, d.frames(), &what).ok(), what);
}

BOOST_AUTO_TEST_CASE(inputs_that_do_not_match_the_plan_are_refused) {
    Built b = build(0x5000);
    Domain& d = *b.d;
    const PvBootValues v{0x1000, 1, 0};
    PvInputs in = inputs(b, "another command line");
    BOOST_TEST(write_pv_image(b.k, *b.l, in, v, d.frames()).error() == Err::InvalidArgument);
    in = inputs(b);
    in.initrd_size = 3 << 20; // more than the plan made room for
    BOOST_TEST(write_pv_image(b.k, *b.l, in, v, d.frames()).error() == Err::InvalidArgument);
    in = inputs(b);
    in.initrd = nullptr, in.initrd_size = 0; // the plan has one
    BOOST_TEST(write_pv_image(b.k, *b.l, in, v, d.frames()).error() == Err::InvalidArgument);
    in = inputs(b);
    in.kernel_size = 64; // the segments' bytes are past it
    BOOST_TEST(write_pv_image(b.k, *b.l, in, v, d.frames()).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()
