// Tests for the fixed-capacity range set (hypervisor/lib/range_set.*).
#include <boost/test/unit_test.hpp>

#include <stdint.h>

#include <bitset>
#include <ostream>
#include <vector>

#include "lib/range_set.hpp"

using virtue::Err;
using virtue::Range;
using virtue::RangeSet;

namespace {

template <size_t N>
std::vector<Range> items(const RangeSet<N>& s) {
    return std::vector<Range>(s.begin(), s.end());
}

// Invariant: sorted, non-empty, separated by gaps.
template <size_t N>
bool well_formed(const RangeSet<N>& s) {
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i].start >= s[i].end) return false;
        if (i > 0 && s[i - 1].end >= s[i].start) return false;
    }
    return true;
}

} // namespace

// Printers for Boost.Test diagnostics (found by ADL; static so they cannot
// clash with printers other test files define).
namespace virtue {
static std::ostream& operator<<(std::ostream& o, Err e) { return o << err_name(e); }
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, const Range& r) {
    return o << "[" << std::hex << r.start << "," << r.end << ")" << std::dec;
}
} // namespace virtue

BOOST_AUTO_TEST_SUITE(range_set)

BOOST_AUTO_TEST_CASE(add_merges_overlapping_and_adjacent) {
    RangeSet<8> s;
    BOOST_REQUIRE(s.add(10, 20).ok());
    BOOST_REQUIRE(s.add(30, 40).ok());
    BOOST_REQUIRE(s.add(50, 60).ok());
    BOOST_TEST(s.size() == 3u);
    BOOST_REQUIRE(s.add(20, 30).ok()); // adjacent on both sides: joins two
    BOOST_TEST(items(s) == (std::vector<Range>{{10, 40}, {50, 60}}));
    BOOST_REQUIRE(s.add(5, 55).ok()); // swallows everything
    BOOST_TEST(items(s) == (std::vector<Range>{{5, 60}}));
    BOOST_REQUIRE(s.add(0, 1).ok());
    BOOST_REQUIRE(s.add(70, 80).ok());
    BOOST_TEST(items(s) == (std::vector<Range>{{0, 1}, {5, 60}, {70, 80}}));
    BOOST_TEST(s.total() == 1u + 55u + 10u);
}

BOOST_AUTO_TEST_CASE(empty_and_inverted_ranges) {
    RangeSet<2> s;
    BOOST_TEST(s.add(5, 5).ok());
    BOOST_TEST(s.empty());
    BOOST_TEST(s.add(6, 5).error() == Err::InvalidArgument);
    BOOST_TEST(s.remove(6, 5).error() == Err::InvalidArgument);
    BOOST_TEST(s.remove(5, 5).ok());
    BOOST_TEST(s.empty());
}

BOOST_AUTO_TEST_CASE(remove_splits_trims_and_deletes) {
    RangeSet<8> s;
    BOOST_REQUIRE(s.add(0, 100).ok());
    BOOST_REQUIRE(s.remove(40, 60).ok()); // hole
    BOOST_TEST(items(s) == (std::vector<Range>{{0, 40}, {60, 100}}));
    BOOST_REQUIRE(s.remove(30, 70).ok()); // trims both neighbours
    BOOST_TEST(items(s) == (std::vector<Range>{{0, 30}, {70, 100}}));
    BOOST_REQUIRE(s.remove(0, 30).ok()); // exact delete
    BOOST_TEST(items(s) == (std::vector<Range>{{70, 100}}));
    BOOST_REQUIRE(s.remove(0, 1000).ok());
    BOOST_TEST(s.empty());
    BOOST_REQUIRE(s.remove(0, 1000).ok()); // removing from nothing is fine
}

BOOST_AUTO_TEST_CASE(capacity_overflow_is_an_error_and_changes_nothing) {
    RangeSet<2> s;
    BOOST_REQUIRE(s.add(0, 10).ok());
    BOOST_REQUIRE(s.add(20, 30).ok());
    auto before = items(s);
    BOOST_TEST(s.add(40, 50).error() == Err::NoMemory);
    BOOST_TEST(items(s) == before);
    BOOST_TEST(s.remove(2, 3).error() == Err::NoMemory); // split needs a slot
    BOOST_TEST(items(s) == before);
    // Merging and trimming need no slot even when full.
    BOOST_TEST(s.add(10, 12).ok());
    BOOST_TEST(s.remove(0, 1).ok());
    BOOST_TEST(items(s) == (std::vector<Range>{{1, 12}, {20, 30}}));
}

BOOST_AUTO_TEST_CASE(queries) {
    RangeSet<4> s;
    BOOST_REQUIRE(s.add(0x1000, 0x2000).ok());
    BOOST_REQUIRE(s.add(0x3000, 0x4000).ok());
    BOOST_TEST(!s.contains(0xfff));
    BOOST_TEST(s.contains(0x1000));
    BOOST_TEST(s.contains(0x1fff));
    BOOST_TEST(!s.contains(0x2000));
    BOOST_TEST(s.covers(0x1000, 0x2000));
    BOOST_TEST(!s.covers(0x1000, 0x3001));
    BOOST_TEST(s.covers(0x5000, 0x5000)); // empty range trivially covered
    BOOST_TEST(s.intersects(0x1fff, 0x3000));
    BOOST_TEST(!s.intersects(0x2000, 0x3000));
    BOOST_TEST(!s.intersects(0, 0x1000));
}

BOOST_AUTO_TEST_CASE(extreme_values) {
    RangeSet<4> s;
    BOOST_REQUIRE(s.add(UINT64_MAX - 10, UINT64_MAX).ok());
    BOOST_REQUIRE(s.add(0, UINT64_MAX - 20).ok());
    BOOST_TEST(s.total() == UINT64_MAX - 10);
    BOOST_REQUIRE(s.add(UINT64_MAX - 20, UINT64_MAX - 10).ok());
    BOOST_TEST(s.size() == 1u);
    BOOST_TEST(s.total() == UINT64_MAX);
    BOOST_TEST(s.contains(UINT64_MAX - 1));
    BOOST_TEST(!s.contains(UINT64_MAX));
}

BOOST_AUTO_TEST_CASE(align_inward) {
    RangeSet<8> s;
    BOOST_REQUIRE(s.add(0, 0x9fc00).ok());
    BOOST_REQUIRE(s.add(0x100001, 0x100fff).ok()); // no whole page inside
    BOOST_REQUIRE(s.add(0x200800, 0x203800).ok());
    BOOST_REQUIRE(s.add(UINT64_MAX - 0x800, UINT64_MAX).ok()); // would wrap
    BOOST_REQUIRE(s.align_inward(0x1000).ok());
    BOOST_TEST(items(s) == (std::vector<Range>{{0, 0x9f000}, {0x201000, 0x203000}}));
    BOOST_TEST(s.align_inward(0).error() == Err::InvalidArgument);
    BOOST_TEST(s.align_inward(0x1800).error() == Err::InvalidArgument);
}

// Random operations on a small universe, checked against a bitmap model.
BOOST_AUTO_TEST_CASE(matches_bitmap_model) {
    constexpr unsigned U = 96;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    auto next = [&seed]() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    for (int round = 0; round < 200; round++) {
        RangeSet<64> s;
        std::bitset<U> model;
        for (int op = 0; op < 60; op++) {
            uint64_t a = next() % (U + 1), b = next() % (U + 1);
            if (a > b) std::swap(a, b);
            bool adding = (next() % 3) != 0;
            virtue::Status st = adding ? s.add(a, b) : s.remove(a, b);
            BOOST_REQUIRE(st.ok());
            for (uint64_t x = a; x < b; x++) model[x] = adding;
            BOOST_REQUIRE(well_formed(s));
        }
        BOOST_TEST(s.total() == model.count());
        for (unsigned x = 0; x < U; x++) BOOST_REQUIRE(s.contains(x) == model[x]);
    }
}

BOOST_AUTO_TEST_SUITE_END()
