// Frame table: layout, bounds checks, census.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <vector>

#include "mm/frame_table.hpp"

using namespace virtue;

// Layout: 32 bytes a frame, links are frame indices; who may own frames.
static_assert(sizeof(FrameInfo) == 32u);
static_assert(sizeof(FrameInfo::next) == 4u);
static_assert(DOMID_FREE == DOMID_INVALID);
static_assert(is_allocatable_owner(0));
static_assert(is_allocatable_owner(DOMID_FIRST_RESERVED - 1));
static_assert(is_allocatable_owner(DOMID_XEN));
static_assert(!is_allocatable_owner(DOMID_FREE));
static_assert(!is_allocatable_owner(DOMID_IO));
static_assert(!is_allocatable_owner(DOMID_SELF));
static_assert(!is_allocatable_owner(DOMID_COW));
static_assert(!is_allocatable_owner(DOMID_IDLE));

BOOST_AUTO_TEST_SUITE(frame_table)

BOOST_AUTO_TEST_CASE(init_rejects_bad_tables) {
    std::vector<FrameInfo> e(4);
    FrameTable t;
    BOOST_TEST(t.init(nullptr, 4).error() == Err::InvalidArgument);
    BOOST_TEST(t.init(e.data(), 0).error() == Err::InvalidArgument);
    BOOST_TEST(t.init(e.data(), FRAME_NIL).error() == Err::InvalidArgument);
    BOOST_TEST(t.size() == 0u);
}

BOOST_AUTO_TEST_CASE(init_marks_everything_not_ram) {
    std::vector<FrameInfo> e(16);
    for (auto& f : e) {
        f.owner = 3;
        f.ref_count = 7;
        f.type = PageType::L2;
        f.flags = 0xff;
    }
    FrameTable t;
    BOOST_REQUIRE(t.init(e.data(), e.size()).ok());
    for (auto& f : e) {
        BOOST_TEST(f.owner == DOMID_IO);
        BOOST_TEST(f.ref_count == 0u);
        BOOST_TEST(f.type_count == 0u);
        BOOST_TEST((f.type == PageType::None));
        BOOST_TEST(f.flags == 0);
        BOOST_TEST(f.next == FRAME_NIL);
        BOOST_TEST(f.prev == FRAME_NIL);
    }
}

BOOST_AUTO_TEST_CASE(get_is_bounds_checked) {
    std::vector<FrameInfo> e(8);
    FrameTable t;
    BOOST_REQUIRE(t.init(e.data(), e.size()).ok());
    auto r = t.get(Mfn(7));
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(*r == &e[7]);
    BOOST_TEST(t.mfn_of(*r).raw() == 7u);
    BOOST_TEST(t.get(Mfn(8)).error() == Err::Range);
    BOOST_TEST(t.get(Mfn(~0ull)).error() == Err::Range);
    BOOST_TEST(&t[Mfn(3)] == &e[3]);
    BOOST_TEST(t.contains_range(Mfn(0), 8));
    BOOST_TEST(t.contains_range(Mfn(8), 0));
    BOOST_TEST(!t.contains_range(Mfn(1), 8));
    BOOST_TEST(!t.contains_range(Mfn(4), ~0ull)); // would overflow
    BOOST_TEST(!t.contains_range(Mfn(9), 0));
}

BOOST_AUTO_TEST_CASE(census_counts_owner_classes) {
    std::vector<FrameInfo> e(10);
    FrameTable t;
    BOOST_REQUIRE(t.init(e.data(), e.size()).ok());
    e[0].owner = DOMID_FREE;
    e[1].owner = DOMID_FREE;
    e[2].owner = DOMID_XEN;
    e[3].owner = 0;
    e[4].owner = 5;
    e[5].owner = 5;
    e[6].owner = DOMID_FIRST_RESERVED - 1;
    auto c = t.census();
    BOOST_REQUIRE(c.ok());
    BOOST_TEST(c->free == 2u);
    BOOST_TEST(c->hypervisor == 1u);
    BOOST_TEST(c->domain == 4u);
    BOOST_TEST(c->io == 3u);
    BOOST_TEST(c->free + c->hypervisor + c->domain + c->io == t.size());
    BOOST_TEST(t.count_owner(5) == 2u);
    BOOST_TEST(t.count_owner(0) == 1u);
    BOOST_TEST(t.count_owner(9) == 0u);
    // In steps: the pieces add up, and ranges past the end are clipped.
    BOOST_TEST(t.count_owner_in(5, 0, 5) == 1u);
    BOOST_TEST(t.count_owner_in(5, 5, 5) == 1u);
    BOOST_TEST(t.count_owner_in(5, 4, ~0ull) == 2u); // would overflow
    BOOST_TEST(t.count_owner_in(5, 10, 1) == 0u);
    BOOST_TEST(t.count_owner_in(5, ~0ull, 2) == 0u);
}

BOOST_AUTO_TEST_CASE(census_reports_impossible_owners) {
    std::vector<FrameInfo> e(4);
    FrameTable t;
    BOOST_REQUIRE(t.init(e.data(), e.size()).ok());
    e[2].owner = DOMID_SELF;
    BOOST_TEST(t.census().error() == Err::BadFormat);
    e[2].owner = DOMID_COW;
    BOOST_TEST(t.census().error() == Err::BadFormat);
}

BOOST_AUTO_TEST_SUITE_END()
