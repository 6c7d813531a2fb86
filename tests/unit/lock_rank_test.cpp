// Tests for the lock-rank bookkeeping of debug builds (hypervisor/lib/lock_rank.*).
#include <boost/test/unit_test.hpp>

#include <string>

#include "lib/lock_rank.hpp"

using virtue::HeldLocks;
using virtue::LockRank;

namespace {

// Stand-ins for locks: only their addresses matter.
char locks[8];

// Takes `lock` as SpinLock's debug hook does: check, then record.
bool take(HeldLocks& h, int i, LockRank r) {
    if (h.conflict(&locks[i], r)) return false;
    BOOST_REQUIRE(h.push(&locks[i], r));
    return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lock_rank)

BOOST_AUTO_TEST_CASE(ranks_nest_only_outermost_first) {
    HeldLocks h;
    BOOST_TEST(take(h, 0, LockRank::DomainMm));
    BOOST_TEST(take(h, 1, LockRank::Domain));
    BOOST_TEST(take(h, 2, LockRank::Console));
    BOOST_TEST(h.depth() == 3u);
    // Below the innermost held: refused, naming the lock in the way.
    const HeldLocks::Entry* e = h.conflict(&locks[3], LockRank::Heap);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->lock == &locks[2]);
    BOOST_TEST(std::string(virtue::lock_rank_name(e->rank)) == "Console");
    // Below an outer one: that one is named.
    e = h.conflict(&locks[3], LockRank::GrantGrow);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->lock == &locks[0]);
}

BOOST_AUTO_TEST_CASE(release_in_any_order_frees_the_rank) {
    HeldLocks h;
    BOOST_TEST(take(h, 0, LockRank::Waitable));
    BOOST_TEST(take(h, 1, LockRank::CpuQueue));
    // The scheduler's hand-over-hand: the outer one goes first.
    BOOST_TEST(h.remove(&locks[0]));
    BOOST_TEST(h.depth() == 1u);
    BOOST_TEST(h.at(0).lock == &locks[1]);
    BOOST_TEST(!take(h, 2, LockRank::Waitable)); // still under the queue lock
    BOOST_TEST(h.remove(&locks[1]));
    BOOST_TEST(take(h, 2, LockRank::Waitable));
    BOOST_TEST(!h.remove(&locks[5])); // never taken
}

BOOST_AUTO_TEST_CASE(same_rank_never_nests_unless_ordered_by_address) {
    HeldLocks h;
    BOOST_TEST(take(h, 0, LockRank::Domain));
    BOOST_TEST(!take(h, 1, LockRank::Domain)); // two domains' locks: forbidden
    h.clear();
    BOOST_TEST(virtue::lock_rank_nests_by_address(LockRank::EventTable));
    BOOST_TEST(take(h, 1, LockRank::EventTable));
    BOOST_TEST(!take(h, 0, LockRank::EventTable)); // lower address second: refused
    BOOST_TEST(!take(h, 1, LockRank::EventTable)); // the same lock again: refused
    BOOST_TEST(take(h, 2, LockRank::EventTable));  // higher address second
    BOOST_TEST(take(h, 3, LockRank::Waitable));
}

BOOST_AUTO_TEST_CASE(a_try_lock_is_recorded_without_a_check) {
    HeldLocks h;
    BOOST_TEST(take(h, 0, LockRank::CpuQueue));
    // Stealing: another CPU's queue, try-locked (never waits).
    BOOST_TEST(h.conflict(&locks[1], LockRank::CpuQueue) != nullptr);
    BOOST_TEST(h.push(&locks[1], LockRank::CpuQueue));
    // What comes after it is checked against it too.
    BOOST_TEST(!take(h, 2, LockRank::Waitable));
    BOOST_TEST(take(h, 2, LockRank::SchedAccount));
}

BOOST_AUTO_TEST_CASE(depth_is_bounded) {
    HeldLocks h;
    for (size_t i = 0; i < HeldLocks::kMax; i++) BOOST_TEST(h.push(&locks[0] + i % 8, LockRank::Console));
    BOOST_TEST(!h.push(&locks[0], LockRank::Console));
    BOOST_TEST(h.depth() == HeldLocks::kMax);
}

BOOST_AUTO_TEST_CASE(every_rank_has_a_name) {
    for (size_t r = 0; r < virtue::kLockRanks; r++)
        BOOST_TEST(std::string(virtue::lock_rank_name(static_cast<LockRank>(r))) != "?");
}

BOOST_AUTO_TEST_SUITE_END()
