// The PV MMU's hypercall operations on a host frame pool: mmu_update's
// commands, mmuext_op's pins, base pointers, flushes, LDT and page copies,
// update_va_mapping through the current kernel L4, and the refusals (each
// changing nothing).
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <cstring>

#include "pv_frame_pool.hpp"
#include "xen-compat/pv_mmu_ops.hpp"

using namespace virtue;
using namespace virtue::pv;
using pvtest::kBase;
using pvtest::kFrames;
using pvtest::Pool;

namespace {

Mfn mfn(unsigned i) { return Mfn(kBase + i); }
uint64_t entry(unsigned i, uint64_t flags) { return ((kBase + i) << 12) | flags; }
uint64_t maddr(unsigned frame, unsigned slot) { return ((kBase + frame) << 12) | (slot * 8); }
constexpr uint64_t P = pte::P, RW = pte::RW;
constexpr uint64_t kVa = 0x0000000000403000; // L4[0] L3[0] L2[2] L1[3]

mmuext_op ext(unsigned cmd, uint64_t a1 = 0, uint64_t a2 = 0) {
    mmuext_op op{};
    op.cmd = cmd;
    op.arg1.mfn = a1;
    memcpy(&op.arg2, &a2, sizeof a2);
    return op;
}

struct Fixture {
    Pool pool;
    PageTables<Pool> pt{pool};
    PvMmu<Pool> mmu{pt, pool};
    PvBasePtrs v;
    PvFlush flush;
    uint64_t& e(unsigned frame, unsigned slot) { return pool.mem[frame * 512 + slot]; }
    // L4 0 -> L3 1 -> L2 2 -> L1 3; the L1 maps data frame 10 at kVa.
    void tree_as_base() {
        e(0, 0) = entry(1, P | RW);
        e(1, 0) = entry(2, P | RW);
        e(2, 2) = entry(3, P | RW);
        e(3, 3) = entry(10, P | RW);
        BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_PIN_L4_TABLE, kBase + 0), v, flush).ok());
        BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_NEW_BASEPTR, kBase + 0), v, flush).ok());
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(pv_mmu_ops)

BOOST_FIXTURE_TEST_CASE(mmu_update_commands, Fixture) {
    tree_as_base();
    // A normal update of the pinned L1: checked, takes the new references.
    BOOST_REQUIRE(mmu.mmu_update(maddr(3, 4) | MMU_NORMAL_PT_UPDATE, entry(11, P | RW)).ok());
    BOOST_TEST(pool.info[11].type == PageType::Writable);
    // PRESERVE_AD keeps the bits the CPU set.
    e(3, 4) |= pte::A | pte::D;
    BOOST_REQUIRE(mmu.mmu_update(maddr(3, 4) | MMU_PT_UPDATE_PRESERVE_AD, entry(11, P)).ok());
    BOOST_TEST((e(3, 4) & (pte::A | pte::D)) == (pte::A | pte::D));
    BOOST_TEST((e(3, 4) & RW) == 0u);
    // Refusals: a writable mapping of a table, a misaligned pointer, another
    // domain's frame, an unknown command.
    const auto before = pool.snapshot();
    BOOST_TEST(mmu.mmu_update(maddr(3, 5), entry(2, P | RW)).error() == Err::Busy); // (-EBUSY, as in Xen)
    BOOST_TEST(mmu.mmu_update(maddr(3, 5) | 4, 0).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.mmu_update(maddr(kFrames - 1, 0), 0).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.mmu_update(maddr(3, 5) | MMU_PT_UPDATE_NO_TRANSLATE, 0).error() == Err::NotSupported);
    BOOST_TEST((pool.snapshot() == before));
    // MACHPHYS_UPDATE: the domain's own frames only.
    BOOST_REQUIRE(mmu.mmu_update(maddr(12, 0) | MMU_MACHPHYS_UPDATE, 0x77).ok());
    BOOST_TEST(pool.m2p.at(kBase + 12) == 0x77u);
    BOOST_TEST(mmu.mmu_update(maddr(kFrames - 1, 0) | MMU_MACHPHYS_UPDATE, 1).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.mmu_update((uint64_t{5} << 12) | MMU_MACHPHYS_UPDATE, 1).error() == Err::InvalidArgument);
}

BOOST_FIXTURE_TEST_CASE(base_pointers_hold_their_l4s, Fixture) {
    tree_as_base();
    BOOST_TEST(v.kernel_l4 == kBase + 0);
    BOOST_TEST(v.reload_root);
    BOOST_TEST(pool.info[0].type_count == 2u); // pinned, and the base pointer
    // A user L4 (validated on the way in), then none.
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_NEW_USER_BASEPTR, kBase + 5), v, flush).ok());
    BOOST_TEST((pool.info[5].type == PageType::L4 && pool.info[5].type_count == 1u));
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_NEW_USER_BASEPTR, 0), v, flush).ok());
    BOOST_TEST((pool.info[5].type_count == 0u && pool.info[5].ref_count == 0u));
    // A frame that is not an L4 cannot be a base pointer; nothing changes.
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_NEW_BASEPTR, kBase + 3), v, flush).error() == Err::InvalidArgument);
    BOOST_TEST(v.kernel_l4 == kBase + 0);
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_NEW_BASEPTR, 0), v, flush).error() == Err::InvalidArgument);
    // Unpinned, the L4 stays valid while it is the base pointer.
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_UNPIN_TABLE, kBase + 0), v, flush).ok());
    BOOST_TEST((pool.info[0].type == PageType::L4 && pool.info[0].type_count == 1u));
    // Switching to another L4 releases it and its whole tree, once the
    // caller has loaded the new one (until then the CPU may still use it).
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_NEW_BASEPTR, kBase + 6), v, flush).ok());
    BOOST_TEST(v.old_kernel_l4 == kBase + 0);
    BOOST_TEST((pool.info[0].type == PageType::L4 && pool.info[0].type_count == 1u));
    mmu.drop_old_root(v);
    BOOST_TEST(v.old_kernel_l4 == 0u);
    BOOST_TEST(pool.info[0].type_count == 0u);
    BOOST_TEST(pool.info[3].type_count == 0u);
    BOOST_TEST(pool.info[10].ref_count == 0u);
}

BOOST_FIXTURE_TEST_CASE(update_va_mapping_goes_through_the_current_l4, Fixture) {
    tree_as_base();
    flush = PvFlush{};
    BOOST_REQUIRE(mmu.update_va_mapping(v, kVa, entry(12, P | RW), UVMF_INVLPG, flush).ok());
    BOOST_TEST(e(3, 3) == (entry(12, P | RW) | pte::US | kGuestKernelBit));
    BOOST_TEST(pool.info[10].ref_count == 0u);
    BOOST_TEST((flush.scope == PvFlush::Scope::Local && !flush.whole && flush.va == kVa));
    // All CPUs, the whole TLB.
    flush = PvFlush{};
    BOOST_REQUIRE(mmu.update_va_mapping(v, kVa, entry(12, P), UVMF_TLB_FLUSH | UVMF_ALL, flush).ok());
    BOOST_TEST((flush.scope == PvFlush::Scope::All && flush.whole));
    // A vCPU bitmap by pointer.
    flush = PvFlush{};
    BOOST_REQUIRE(mmu.update_va_mapping(v, kVa, entry(12, P), UVMF_INVLPG | 0x7000, flush).ok());
    BOOST_TEST((flush.scope == PvFlush::Scope::Multi && flush.vcpumask == 0x7000u));
    // Refusals: nothing maps the address, a bad flush type, the hypervisor's
    // range, a non-canonical address, a table mapped writable.
    const auto before = pool.snapshot();
    BOOST_TEST(mmu.update_va_mapping(v, 0x0000000040000000, entry(12, P), 0, flush).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.update_va_mapping(v, kVa, entry(12, P), 3, flush).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.update_va_mapping(v, 0xffff800000001000, 0, 0, flush).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.update_va_mapping(v, 0x0000900000000000, 0, 0, flush).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.update_va_mapping(v, kVa, entry(1, P | RW), 0, flush).error() == Err::Busy);
    BOOST_TEST((pool.snapshot() == before));
}

BOOST_FIXTURE_TEST_CASE(flushes_ldt_and_page_operations, Fixture) {
    // Flush requests merge: the widest scope, two pages become the whole TLB.
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_INVLPG_LOCAL, 0x5000), v, flush).ok());
    BOOST_TEST((flush.scope == PvFlush::Scope::Local && !flush.whole && flush.va == 0x5000));
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_INVLPG_LOCAL, 0x6000), v, flush).ok());
    BOOST_TEST(flush.whole);
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_TLB_FLUSH_MULTI, 0, 0x8000), v, flush).ok());
    BOOST_TEST((flush.scope == PvFlush::Scope::Multi && flush.vcpumask == 0x8000u));
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_TLB_FLUSH_ALL), v, flush).ok());
    BOOST_TEST((flush.scope == PvFlush::Scope::All));
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_INVLPG_LOCAL, 0xffff830000000000), v, flush).error() == Err::InvalidArgument);
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_SET_LDT, 0, 0), v, flush).ok()); // (no LDT: nothing to do)
    BOOST_TEST(v.ldt_entries == 0u);
    // Clear and copy pages: into a frame that may be written.
    e(20, 7) = 0x1234;
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_COPY_PAGE, kBase + 21, kBase + 20), v, flush).ok());
    BOOST_TEST(e(21, 7) == 0x1234u);
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_CLEAR_PAGE, kBase + 20), v, flush).ok());
    BOOST_TEST(e(20, 7) == 0u);
    BOOST_REQUIRE(pt.pin(mfn(22), 1).ok());
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_CLEAR_PAGE, kBase + 22), v, flush).error() == Err::InvalidArgument); // a table
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_COPY_PAGE, kBase + 21, kBase + kFrames - 1), v, flush).error() ==
               Err::InvalidArgument); // another domain's source
    // Privileged and unknown commands.
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_FLUSH_CACHE), v, flush).error() == Err::NotPermitted);
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_MARK_SUPER, kBase + 1), v, flush).error() == Err::NotSupported);
    BOOST_TEST(mmu.mmuext(ext(99), v, flush).error() == Err::NotSupported);
}

// LDT: page-aligned, at most 8192 entries, in the guest's range, each page
// mapped (read-only) in the current kernel L4 and held as a descriptor
// page while it is the LDT; a refused LDT leaves the old one; 0 clears.
BOOST_FIXTURE_TEST_CASE(ldt_pages_are_descriptor_pages_while_loaded, Fixture) {
    tree_as_base();
    const FrameInfo& page = pool.info[10];
    e(10, 1) = 0x0041f30000002345ull; // a DPL-3 data segment
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_SET_LDT, kVa, 16), v, flush).error() == Err::InvalidArgument); // mapped writable
    BOOST_REQUIRE(mmu.update_va_mapping(v, kVa, entry(10, P), 0, flush).ok());
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_SET_LDT, kVa, 16), v, flush).ok());
    BOOST_TEST((v.ldt_base == kVa && v.ldt_entries == 16u && v.ldt_frames[0] == kBase + 10 && v.reload_ldt));
    BOOST_TEST((page.type == PageType::SegDesc && page.type_count == 1u));
    BOOST_TEST(mmu.update_va_mapping(v, kVa, entry(10, P | RW), 0, flush).error() == Err::Busy);
    // Refused, the old LDT stays: unaligned, too long, the hypervisor's
    // range, a page not mapped, a page with a gate in it.
    v.reload_ldt = false;
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_SET_LDT, kVa + 8, 16), v, flush).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_SET_LDT, kVa, 8193), v, flush).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_SET_LDT, 0xffff7ffffffff000, 1024), v, flush).error() == Err::InvalidArgument);
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_SET_LDT, 0x0000000040000000, 16), v, flush).error() == Err::InvalidArgument);
    e(11, 0) = 0x0000ec0000000000ull; // a present DPL-3 call gate
    BOOST_REQUIRE(mmu.update_va_mapping(v, kVa + 0x1000, entry(11, P), 0, flush).ok());
    BOOST_TEST(mmu.mmuext(ext(MMUEXT_SET_LDT, kVa, 1024), v, flush).error() == Err::InvalidArgument);
    BOOST_TEST((v.ldt_base == kVa && v.ldt_entries == 16u && !v.reload_ldt && page.type_count == 1u));
    BOOST_TEST((pool.info[11].type_count == 0u && pool.info[11].ref_count == 1u));
    BOOST_REQUIRE(mmu.mmuext(ext(MMUEXT_SET_LDT, 0, 0), v, flush).ok());
    BOOST_TEST((v.ldt_entries == 0u && v.reload_ldt && page.type_count == 0u && page.ref_count == 1u));
    BOOST_REQUIRE(mmu.update_va_mapping(v, kVa, entry(10, P | RW), 0, flush).ok());
}

BOOST_AUTO_TEST_SUITE_END()
