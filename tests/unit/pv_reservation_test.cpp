// A PV guest's reservation on a host frame pool, with Xen's semantics: a
// frame of its RAM given back is no longer its own at once (no new entry,
// pin or second release), and returns to the partition when nothing names
// it (at once, after its last mapping goes, or once unpinned); another
// domain's and the hypervisor's frames are refused and change nothing;
// populating up to the maximum and no further; M2P entries; stale
// writable translations flushed.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <vector>

#include "pv_frame_pool.hpp"
#include "xen-compat/pv_page_tables.hpp"
#include "xen-compat/pv_reservation.hpp"

using namespace virtue;
using namespace virtue::pv;

namespace {

using pvtest::kBase;
using pvtest::kFrames;

// The pool with a partition: frames given back go on a free list, new ones
// come from it (frame kFrames - 5, never guest RAM, is the spare one), and
// the reservation counts them (at most kMax).
constexpr uint64_t kMax = 20;
struct PartitionPool : pvtest::Pool {
    std::vector<uint64_t> free_list;
    uint64_t pages = kMax;
    PartitionPool() {
        info[kFrames - 5].flags = 0;
        free_list.push_back(kBase + kFrames - 5);
    }
    Result<Mfn> take_frame() {
        if (pages >= kMax || free_list.empty()) return Err::NoMemory;
        const uint64_t m = free_list.back();
        free_list.pop_back();
        pages++;
        return Mfn(m);
    }
    void give_back(Mfn m) {
        free_list.push_back(m.raw());
        given_back.push_back(m.raw());
        pages--;
    }
};

Mfn mfn(unsigned i) { return Mfn(kBase + i); }
uint64_t entry(unsigned i, uint64_t flags) { return ((kBase + i) << 12) | flags; }

struct Fixture {
    PartitionPool pool;
    PageTables<PartitionPool> pt{pool};
    Reservation<PartitionPool> r{pool, pt};
    uint64_t& e(unsigned frame, unsigned slot) { return pool.mem[frame * 512 + slot]; }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(pv_reservation, Fixture)

BOOST_AUTO_TEST_CASE(an_unused_frame_goes_back_and_comes_again) {
    const unsigned flushes = pool.stale_flushes;
    BOOST_TEST(r.release(mfn(3)).ok());
    BOOST_TEST(pool.stale_flushes == flushes + 1); // (every CPU, before the partition may reuse it)
    BOOST_TEST(pool.pages == kMax - 1);
    BOOST_TEST(!(pool.info[3].flags & (kFrameGuest | kFrameGivenBack)));
    BOOST_TEST(pool.m2p.at(kBase + 3) == kM2pInvalid);
    BOOST_TEST(pool.given_back.size() == 1u);
    // Gone: no entry, pin or second release may name it.
    BOOST_TEST(pt.get_page(mfn(3)).error() == Err::InvalidArgument);
    BOOST_TEST(pt.pin(mfn(3), 1).error() == Err::InvalidArgument);
    BOOST_TEST(r.release(mfn(3)).error() == Err::InvalidArgument);
    BOOST_TEST(pool.pages == kMax - 1);
    // Populated again (the partition hands out the last frame given back).
    auto m = r.populate(0x1234);
    BOOST_REQUIRE(m.ok());
    BOOST_TEST(m->raw() == kBase + 3);
    BOOST_TEST(pool.pages == kMax);
    BOOST_TEST((pool.info[3].flags & kFrameGuest) != 0);
    BOOST_TEST(pool.m2p.at(kBase + 3) == 0x1234u);
    BOOST_TEST(pt.get_page(mfn(3)).ok());
}

BOOST_AUTO_TEST_CASE(no_more_than_the_maximum) {
    BOOST_TEST(r.populate(5).error() == Err::NoMemory);
    BOOST_TEST(pool.pages == kMax);
    BOOST_TEST(pool.free_list.size() == 1u); // the spare frame was not taken
    BOOST_TEST(r.release(mfn(4)).ok());
    BOOST_TEST(r.populate(5).ok());
    BOOST_TEST(r.populate(6).error() == Err::NoMemory);
}

BOOST_AUTO_TEST_CASE(a_mapped_frame_goes_back_when_its_last_mapping_goes) {
    // Frame 10 mapped writable by L1 1 (pinned); given back, it stays
    // alive (and counted) until the entry goes.
    e(1, 0) = entry(10, pte::P | pte::RW);
    BOOST_REQUIRE(pt.pin(mfn(1), 1).ok());
    BOOST_TEST(r.release(mfn(10)).ok());
    BOOST_TEST(pool.given_back.empty());
    BOOST_TEST(pool.pages == kMax);
    BOOST_TEST((pool.info[10].flags & kFrameGivenBack) != 0);
    BOOST_TEST(pt.get_page(mfn(10)).error() == Err::InvalidArgument); // no new entry names it
    const unsigned flushes = pool.stale_flushes;
    auto narrowed = pt.update_entry(mfn(1), 0, 0, false);
    BOOST_TEST(narrowed.ok());
    BOOST_TEST(pool.given_back == std::vector<uint64_t>{kBase + 10});
    BOOST_TEST(pool.pages == kMax - 1);
    BOOST_TEST(pool.stale_flushes == flushes + 1); // it was Writable
    BOOST_TEST(pool.info[10].ref_count == 0u);
    BOOST_TEST(pool.info[10].type == PageType::None);
    BOOST_TEST(!(pool.info[10].flags & kFrameGivenBack));
}

BOOST_AUTO_TEST_CASE(a_pinned_table_goes_back_when_unpinned) {
    e(2, 0) = entry(11, pte::P);
    BOOST_REQUIRE(pt.pin(mfn(2), 1).ok());
    BOOST_TEST(r.release(mfn(2)).ok());
    BOOST_TEST(pool.given_back.empty());
    BOOST_TEST(pool.pages == kMax);
    BOOST_TEST(pt.unpin(mfn(2)).ok()); // (the guest may still unpin it, as in Xen)
    BOOST_TEST(pool.given_back == std::vector<uint64_t>{kBase + 2});
    BOOST_TEST(pool.pages == kMax - 1);
    BOOST_TEST(pool.info[2].type_count == 0u);
    BOOST_TEST(pool.info[11].ref_count == 0u); // its entry's reference went with it
    BOOST_TEST(pt.unpin(mfn(2)).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(a_table_in_use_goes_back_when_its_last_use_goes) {
    // L2 3 names L1 4: L1 4 given back stays a table while L2 3 is pinned.
    e(3, 0) = entry(4, pte::P | pte::RW);
    BOOST_REQUIRE(pt.pin(mfn(3), 2).ok());
    BOOST_TEST(r.release(mfn(4)).ok());
    BOOST_TEST(pool.given_back.empty());
    BOOST_TEST(pool.info[4].type == PageType::L1);
    BOOST_TEST(pt.update_entry(mfn(4), 0, entry(12, pte::P), false).error() == Err::InvalidArgument); // not the guest's
    BOOST_TEST(pt.unpin(mfn(3)).ok());
    BOOST_TEST(pool.given_back == std::vector<uint64_t>{kBase + 4});
    BOOST_TEST(pool.info[4].type == PageType::None);
}

BOOST_AUTO_TEST_CASE(an_empty_partition_is_no_memory) {
    BOOST_TEST(r.release(mfn(4)).ok());
    pool.free_list.clear();
    BOOST_TEST(r.populate(5).error() == Err::NoMemory);
    BOOST_TEST(pool.pages == kMax - 1);
}

BOOST_AUTO_TEST_CASE(frames_not_the_guests_ram_are_refused) {
    pool.info[6].flags = 0; // a frame the hypervisor keeps for the domain
    for (uint64_t m : {kBase + 6, kBase + kFrames - 1 /* another domain's */, kBase - 1 /* not RAM */,
                       ~uint64_t{0} >> 12}) {
        BOOST_TEST(r.release(Mfn(m)).error() == Err::InvalidArgument, "mfn " << m);
    }
    BOOST_TEST(pool.info[6].flags == 0);
    BOOST_TEST(pool.pages == kMax);
    BOOST_TEST(pool.given_back.empty());
    BOOST_TEST(pool.m2p.empty());
}

BOOST_AUTO_TEST_CASE(writable_mapping_of_a_table_is_ebusy) {
    // As Xen answers: an L1 entry that would map a page table writable.
    e(5, 0) = entry(6, pte::P | pte::RW);
    BOOST_REQUIRE(pt.pin(mfn(6), 1).ok());
    BOOST_TEST(pt.pin(mfn(5), 1).error() == Err::Busy);
    BOOST_TEST(pool.info[5].type_count == 0u);
    BOOST_TEST(pool.info[6].ref_count == 1u); // the pin's only
}

BOOST_AUTO_TEST_SUITE_END()
