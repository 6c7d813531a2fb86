// Tests for the scheduler's pure logic (hypervisor/sched/credit.*): credit
// arithmetic (charge/refill: weights, clamping, caps, overflow), the per-CPU
// RunQueue (order, skipping capped work, stealing), and a deterministic
// multi-CPU simulation of the kernel's scheduling rules that checks the CPU
// shares domains actually get.
#include <boost/test/unit_test.hpp>

#include <stdint.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <ostream>
#include <string>
#include <vector>

#include "sched/credit.hpp"

using namespace virtue;
using namespace virtue::sched;

namespace virtue {
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, Err e) {
    return o << err_name(e);
}
namespace sched {
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, Priority p) {
    return o << (p == Priority::Under ? "Under" : "Over");
}
} // namespace sched
} // namespace virtue

namespace {

constexpr uint64_t kMs = 1000000;
constexpr uint64_t kSec = 1000 * kMs;
constexpr uint64_t kTick = 10 * kMs;
constexpr uint64_t kPeriod = 30 * kMs;

ShareAccount account(uint32_t weight, bool active = true, uint32_t cap = 0) {
    ShareAccount a;
    a.weight = weight;
    a.cap_percent = cap;
    a.active = active;
    return a;
}

Entity entity(ShareAccount& a, uint32_t affinity = kAnyCpu) {
    Entity e;
    e.account = &a;
    e.affinity_cpu = affinity;
    return e;
}

// A ShareAccount with credit: Under; without: Over.
ShareAccount under() {
    ShareAccount a;
    a.credit_ns = 1;
    return a;
}
ShareAccount over() {
    ShareAccount a;
    a.credit_ns = 0;
    return a;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sched_credit)

// ---------------------------------------------------------------------------
// charge / refill arithmetic

BOOST_AUTO_TEST_CASE(charge_updates_credit_usage_and_active) {
    ShareAccount a = account(256, false);
    a.credit_ns = 5 * kMs;
    charge(a, 3 * kMs, kPeriod);
    BOOST_TEST(a.credit_ns == int64_t(2 * kMs));
    BOOST_TEST(a.used_in_period_ns == 3 * kMs);
    BOOST_TEST(a.total_used_ns == 3 * kMs);
    BOOST_TEST(a.active);
    BOOST_TEST(a.priority() == Priority::Under);
    charge(a, 2 * kMs, kPeriod);
    BOOST_TEST(a.credit_ns == 0);
    BOOST_TEST(a.priority() == Priority::Over); // exactly zero credit is Over
    charge(a, 1 * kMs, kPeriod);
    BOOST_TEST(a.credit_ns == -int64_t(kMs));
    BOOST_TEST(a.total_used_ns == 6 * kMs);
    BOOST_TEST(!a.capped); // uncapped never caps
}

BOOST_AUTO_TEST_CASE(charge_saturates_instead_of_wrapping) {
    ShareAccount a;
    a.credit_ns = INT64_MIN + 5;
    charge(a, 10, kPeriod);
    BOOST_TEST(a.credit_ns == INT64_MIN);
    a.credit_ns = 100;
    charge(a, UINT64_MAX / 2 + 1000, kPeriod); // more than INT64_MAX
    BOOST_TEST(a.credit_ns == INT64_MIN);
    a.credit_ns = 100;
    charge(a, uint64_t(INT64_MAX), kPeriod); // lands in range
    BOOST_TEST(a.credit_ns == 100 - INT64_MAX);
}

BOOST_AUTO_TEST_CASE(refill_weights_one_to_two) {
    ShareAccount a = account(256), b = account(512);
    ShareAccount* all[] = {&a, &b};
    refill(all, 2, kPeriod, 1);
    BOOST_TEST(a.credit_ns == int64_t(10 * kMs));
    BOOST_TEST(b.credit_ns == int64_t(20 * kMs));

    // Awkward numbers: the grants still add up to period * nr_cpus exactly and
    // each is within a nanosecond of its ideal share.
    ShareAccount c = account(1), d = account(2), e = account(4);
    ShareAccount* three[] = {&c, &d, &e};
    const uint64_t period = 10 * kMs + 1;
    refill(three, 3, period, 3);
    const uint64_t total = period * 3;
    BOOST_TEST(uint64_t(c.credit_ns + d.credit_ns + e.credit_ns) == total);
    BOOST_TEST(std::abs(c.credit_ns - int64_t(total * 1 / 7)) <= 1);
    BOOST_TEST(std::abs(d.credit_ns - int64_t(total * 2 / 7)) <= 1);
    BOOST_TEST(std::abs(e.credit_ns - int64_t(total * 4 / 7)) <= 1);
}

BOOST_AUTO_TEST_CASE(refill_inactive_accounts_get_nothing_and_lose_credit) {
    ShareAccount a = account(256), idle_rich = account(256, false), idle_poor = account(256, false);
    idle_rich.credit_ns = 7 * kMs;
    idle_poor.credit_ns = -7 * int64_t(kMs);
    idle_poor.runnable = 1; // became runnable: takes part in the next period
    ShareAccount* all[] = {&a, &idle_rich, &idle_poor};
    refill(all, 3, kPeriod, 2);
    BOOST_TEST(a.credit_ns == int64_t(60 * kMs)); // the only active one takes all
    BOOST_TEST(idle_rich.credit_ns == 0);          // saved credit lost
    BOOST_TEST(idle_poor.credit_ns == -7 * int64_t(kMs)); // debt kept
    // active for the next period follows runnable
    BOOST_TEST(!a.active);
    BOOST_TEST(!idle_rich.active);
    BOOST_TEST(idle_poor.active);
}

BOOST_AUTO_TEST_CASE(refill_resets_period_state) {
    ShareAccount a = account(256);
    a.runnable = 2;
    charge(a, 25 * kMs, kPeriod);
    ShareAccount* all[] = {&a};
    refill(all, 1, kPeriod, 1);
    BOOST_TEST(a.used_in_period_ns == 0);
    BOOST_TEST(!a.capped);
    BOOST_TEST(a.active);
    BOOST_TEST(a.total_used_ns == 25 * kMs); // lifetime usage is kept
}

BOOST_AUTO_TEST_CASE(refill_clamps_to_one_grant_up_and_a_few_down) {
    ShareAccount hoarder = account(256), debtor = account(256), small_debt = account(256);
    hoarder.credit_ns = 1000 * int64_t(kMs);
    debtor.credit_ns = -1000 * int64_t(kMs);
    small_debt.credit_ns = -4 * int64_t(kMs);
    ShareAccount* all[] = {&hoarder, &debtor, &small_debt};
    refill(all, 3, kPeriod, 1); // grant 10 ms each
    BOOST_TEST(hoarder.credit_ns == int64_t(10 * kMs));
    // Debt is clamped to kDebtPeriods grants, then one grant pays part of it.
    BOOST_TEST(debtor.credit_ns == -int64_t((kDebtPeriods - 1) * 10 * kMs));
    BOOST_TEST(small_debt.credit_ns == int64_t(6 * kMs));

    // Extremes do not overflow while clamping.
    ShareAccount top = account(256), bottom = account(256);
    top.credit_ns = INT64_MAX;
    bottom.credit_ns = INT64_MIN;
    ShareAccount* ext[] = {&top, &bottom};
    refill(ext, 2, kPeriod, 1);
    BOOST_TEST(top.credit_ns == int64_t(15 * kMs));
    BOOST_TEST(bottom.credit_ns == -int64_t((kDebtPeriods - 1) * 15 * kMs));
}

BOOST_AUTO_TEST_CASE(cap_reached_after_half_period) {
    ShareAccount a = account(256, true, 50);
    BOOST_TEST(cap_limit_ns(a, kPeriod) == 15 * kMs);
    charge(a, 10 * kMs, kPeriod);
    BOOST_TEST(!a.capped);
    BOOST_TEST(a.eligible());
    charge(a, 5 * kMs - 1, kPeriod);
    BOOST_TEST(!a.capped);
    charge(a, 1, kPeriod); // exactly half the period
    BOOST_TEST(a.capped);
    BOOST_TEST(!a.eligible());
    a.runnable = 1;
    ShareAccount* all[] = {&a};
    refill(all, 1, kPeriod, 1);
    BOOST_TEST(!a.capped);
    BOOST_TEST(a.used_in_period_ns == 0);
}

BOOST_AUTO_TEST_CASE(cap_limits_grant_and_rest_goes_to_others) {
    // 2 CPUs, equal weights: fair share 30 ms each, but one is capped at 50%.
    ShareAccount capped = account(256, true, 50), free = account(256);
    ShareAccount* all[] = {&capped, &free};
    refill(all, 2, kPeriod, 2);
    BOOST_TEST(capped.credit_ns == int64_t(15 * kMs));
    BOOST_TEST(free.credit_ns == int64_t(45 * kMs));

    // A cap above the fair share does not bind.
    ShareAccount loose = account(256, true, 150), other = account(256);
    ShareAccount* all2[] = {&loose, &other};
    refill(all2, 2, kPeriod, 2);
    BOOST_TEST(loose.credit_ns == int64_t(30 * kMs));
    BOOST_TEST(other.credit_ns == int64_t(30 * kMs));

    // Water-filling over several rounds: the first cap frees credit that
    // pushes the level past the second cap.
    ShareAccount c10 = account(256, true, 10), c40 = account(256, true, 40),
                 big = account(256, true, 90), rest = account(256);
    ShareAccount* all3[] = {&c10, &c40, &big, &rest};
    refill(all3, 4, kPeriod, 2); // 60 ms; level 15 -> c10 = 3 -> level 19 -> c40 = 12 -> 22.5
    BOOST_TEST(c10.credit_ns == int64_t(3 * kMs));
    BOOST_TEST(c40.credit_ns == int64_t(12 * kMs));
    BOOST_TEST(big.credit_ns == int64_t(22500000));
    BOOST_TEST(rest.credit_ns == int64_t(22500000));

    // Everyone capped: each gets exactly its cap, the rest of the CPU time is
    // not handed out.
    ShareAccount x = account(1, true, 20), y = account(65535, true, 30);
    ShareAccount* all4[] = {&x, &y};
    refill(all4, 2, kPeriod, 1);
    BOOST_TEST(x.credit_ns == int64_t(6 * kMs));
    BOOST_TEST(y.credit_ns == int64_t(9 * kMs));
}

BOOST_AUTO_TEST_CASE(cap_grant_never_exceeds_cap) {
    for (uint32_t cap = 1; cap <= 400; cap += 7) {
        for (uint32_t w = 1; w <= 65535; w = w * 3 + 1) {
            ShareAccount a = account(w, true, cap), b = account(300), c = account(17, true, 33);
            ShareAccount* all[] = {&a, &b, &c};
            refill(all, 3, kPeriod + 7, 4);
            BOOST_TEST_REQUIRE(uint64_t(a.credit_ns) <= cap_limit_ns(a, kPeriod + 7));
            BOOST_TEST_REQUIRE(uint64_t(c.credit_ns) <= cap_limit_ns(c, kPeriod + 7));
            // b is uncapped, so nothing is lost.
            BOOST_TEST_REQUIRE(uint64_t(a.credit_ns + b.credit_ns + c.credit_ns) ==
                               (kPeriod + 7) * 4);
        }
    }
}

BOOST_AUTO_TEST_CASE(cap_overshoot_carries_into_next_period) {
    ShareAccount a = account(256, true, 30); // 9 ms per 30 ms period
    a.runnable = 1;
    ShareAccount* all[] = {&a};
    charge(a, kTick, kPeriod); // one 10 ms tick: 1 ms over
    BOOST_TEST(a.capped);
    refill(all, 1, kPeriod, 1);
    BOOST_TEST(a.used_in_period_ns == 1 * kMs);
    BOOST_TEST(!a.capped);

    // Four threads overshoot by more than a whole cap: the carry is limited to
    // one cap, which sits out exactly the next period.
    charge(a, 40 * kMs, kPeriod);
    refill(all, 1, kPeriod, 4);
    BOOST_TEST(a.used_in_period_ns == 9 * kMs);
    BOOST_TEST(a.capped);
    refill(all, 1, kPeriod, 4);
    BOOST_TEST(a.used_in_period_ns == 0);
    BOOST_TEST(!a.capped);

    // Removing the cap drops the carry.
    charge(a, 20 * kMs, kPeriod);
    a.cap_percent = 0;
    refill(all, 1, kPeriod, 1);
    BOOST_TEST(a.used_in_period_ns == 0);
    BOOST_TEST(!a.capped);
}

BOOST_AUTO_TEST_CASE(large_values_do_not_overflow) {
    // 64 domains of weight 65535 on 64 CPUs with a 1 s period: 1 s each.
    std::vector<ShareAccount> accts(64, account(65535));
    std::vector<ShareAccount*> ptrs;
    for (auto& a : accts) ptrs.push_back(&a);
    refill(ptrs.data(), ptrs.size(), kSec, 64);
    for (auto& a : accts) BOOST_TEST(a.credit_ns == int64_t(kSec));

    // Mixed weights, some capped at huge values: exact total, shares by weight.
    uint64_t wsum = 0;
    for (size_t i = 0; i < accts.size(); ++i) {
        accts[i] = account(uint32_t(65535 - i * 1000), true, i % 8 == 0 ? 6400 : 0);
        accts[i].credit_ns = i % 2 ? INT64_MIN : INT64_MAX;
        wsum += accts[i].weight;
    }
    refill(ptrs.data(), ptrs.size(), kSec, 64);
    int64_t sum = 0;
    for (size_t i = 0; i < accts.size(); ++i) {
        const int64_t ideal = int64_t(64 * kSec * accts[i].weight / wsum);
        // A saturated debt is clamped to kDebtPeriods grants, then one grant
        // is paid: -(kDebtPeriods - 1) grants.
        const int64_t grant = i % 2 ? -accts[i].credit_ns / (kDebtPeriods - 1) : accts[i].credit_ns;
        BOOST_TEST(std::abs(grant - ideal) <= 1);
        if (i % 2) BOOST_TEST(accts[i].credit_ns == -(kDebtPeriods - 1) * grant);
        BOOST_TEST((accts[i].credit_ns > 0) == (i % 2 == 0));
        sum += grant;
    }
    BOOST_TEST(uint64_t(sum) == 64 * kSec);

    // Maximum cap value over a 1 s period.
    ShareAccount m = account(65535, true, UINT32_MAX);
    BOOST_TEST(cap_limit_ns(m, kSec) == uint64_t(UINT32_MAX) * (kSec / 100));
    charge(m, 64 * kSec, kSec);
    BOOST_TEST(!m.capped);

    // Out-of-range weights are treated as 1 and 65535, never divide by zero.
    ShareAccount zero = account(0), huge = account(1000000);
    ShareAccount* odd[] = {&zero, &huge};
    refill(odd, 2, kSec, 64);
    BOOST_TEST(zero.credit_ns == int64_t(64 * kSec / 65536));
    BOOST_TEST(uint64_t(zero.credit_ns + huge.credit_ns) == 64 * kSec);
}

// ---------------------------------------------------------------------------
// RunQueue

BOOST_AUTO_TEST_CASE(runqueue_fifo_within_class_under_first) {
    ShareAccount u = under(), o = over();
    Entity o1 = entity(o), u1 = entity(u), o2 = entity(o), u2 = entity(u);
    RunQueue rq;
    BOOST_TEST(rq.pick() == nullptr);
    BOOST_TEST(!rq.has_eligible());
    for (Entity* e : {&o1, &u1, &o2, &u2}) BOOST_TEST(rq.enqueue(*e).ok());
    BOOST_TEST(rq.size() == 4u);
    BOOST_TEST(rq.pick() == &u1);
    BOOST_TEST(rq.pick() == &u2);
    BOOST_TEST(rq.pick() == &o1);
    BOOST_TEST(rq.pick() == &o2);
    BOOST_TEST(rq.pick() == nullptr);
    BOOST_TEST(rq.size() == 0u);
    BOOST_TEST(!o1.queued);
    BOOST_TEST(o1.next == nullptr);
    BOOST_TEST(o1.prev == nullptr);
}

BOOST_AUTO_TEST_CASE(runqueue_priority_is_read_live) {
    ShareAccount a = under(), b = over();
    Entity ea = entity(a), eb = entity(b);
    RunQueue rq;
    BOOST_TEST(rq.enqueue(ea).ok());
    BOOST_TEST(rq.enqueue(eb).ok());
    // Credit changes while both wait: b is now Under, a Over.
    a.credit_ns = -5;
    b.credit_ns = 5;
    BOOST_TEST(rq.pick() == &eb);
    BOOST_TEST(rq.pick() == &ea);
}

BOOST_AUTO_TEST_CASE(runqueue_levels_order_threads_within_one_account_only) {
    ShareAccount a = under(), b = under();
    Entity a_low = entity(a), b1 = entity(b), a_high = entity(a), a_high2 = entity(a), b_high = entity(b);
    a_low.level = 2;
    a_high.level = 9;
    a_high2.level = 9;
    b1.level = 8;
    b_high.level = 15;
    RunQueue rq;
    for (Entity* e : {&a_low, &b1, &a_high, &a_high2, &b_high}) BOOST_TEST(rq.enqueue(*e).ok());
    // a's turn (it is first in the queue): its highest level goes, FIFO among
    // equal levels; b's higher level does not jump ahead of a's turn.
    BOOST_TEST(rq.pick() == &a_high);
    // Now b1 is not first: a_low is, so a goes again.
    BOOST_TEST(rq.pick() == &a_high2);
    BOOST_TEST(rq.pick() == &a_low);
    BOOST_TEST(rq.pick() == &b_high);
    BOOST_TEST(rq.pick() == &b1);
    BOOST_TEST(rq.pick() == nullptr);
}

BOOST_AUTO_TEST_CASE(runqueue_skips_capped_but_keeps_them) {
    ShareAccount c = under(), o = over();
    c.capped = true;
    Entity ec = entity(c), eo = entity(o);
    RunQueue rq;
    BOOST_TEST(rq.enqueue(ec).ok());
    BOOST_TEST(rq.enqueue(eo).ok());
    BOOST_TEST(!rq.has_better_than(Priority::Over)); // the Under one is capped
    BOOST_TEST(rq.pick() == &eo);                    // capped Under skipped
    BOOST_TEST(rq.pick() == nullptr);
    BOOST_TEST(rq.size() == 1u);
    BOOST_TEST(ec.queued);
    BOOST_TEST(!rq.has_eligible());
    BOOST_TEST(rq.steal(1, false) == nullptr);
    c.capped = false; // refill
    BOOST_TEST(rq.has_eligible());
    BOOST_TEST(rq.pick() == &ec);
}

BOOST_AUTO_TEST_CASE(runqueue_remove_and_errors) {
    ShareAccount a = under();
    Entity e1 = entity(a), e2 = entity(a), e3 = entity(a), stranger = entity(a);
    RunQueue rq, other;
    BOOST_TEST(rq.remove(stranger).error() == Err::NotFound);
    for (Entity* e : {&e1, &e2, &e3}) BOOST_TEST(rq.enqueue(*e).ok());
    BOOST_TEST(rq.enqueue(e2).error() == Err::Busy);    // double enqueue
    BOOST_TEST(other.enqueue(e2).error() == Err::Busy); // queued elsewhere
    BOOST_TEST(other.remove(e2).error() == Err::NotFound);
    BOOST_TEST(rq.size() == 3u);

    BOOST_TEST(rq.remove(e2).ok()); // middle
    BOOST_TEST(!e2.queued);
    BOOST_TEST(rq.remove(e2).error() == Err::NotFound);
    BOOST_TEST(rq.remove(e3).ok()); // tail
    BOOST_TEST(rq.enqueue(e2).ok());
    BOOST_TEST(rq.remove(e1).ok()); // head
    BOOST_TEST(rq.size() == 1u);
    BOOST_TEST(rq.pick() == &e2);
    BOOST_TEST(rq.size() == 0u);

    Entity orphan; // no account
    BOOST_TEST(rq.enqueue(orphan).error() == Err::InvalidArgument);
    BOOST_TEST(rq.size() == 0u);
}

BOOST_AUTO_TEST_CASE(runqueue_steal_respects_only_under_and_pinning) {
    ShareAccount u = under(), o = over();
    Entity pinned_u = entity(u, 0), free_o = entity(o), mine_u = entity(u, 1), free_u = entity(u);
    RunQueue rq; // CPU 0's queue
    for (Entity* e : {&pinned_u, &free_o, &mine_u, &free_u}) BOOST_TEST(rq.enqueue(*e).ok());

    // CPU 1 may take what is pinned to it or not pinned; Under first.
    BOOST_TEST(rq.steal(1, true) == &mine_u);
    BOOST_TEST(rq.steal(1, true) == &free_u);
    BOOST_TEST(rq.steal(1, true) == nullptr); // only Over or pinned-to-0 left
    BOOST_TEST(rq.steal(2, false) == &free_o);
    BOOST_TEST(rq.steal(2, false) == nullptr); // pinned to CPU 0: never stolen
    BOOST_TEST(rq.size() == 1u);
    BOOST_TEST(rq.steal(0, true) == &pinned_u); // CPU 0 itself may
    BOOST_TEST(rq.size() == 0u);
}

BOOST_AUTO_TEST_CASE(runqueue_has_better_than) {
    ShareAccount u = under(), o = over();
    Entity eu = entity(u), eo = entity(o);
    RunQueue rq;
    BOOST_TEST(!rq.has_better_than(Priority::Over));
    BOOST_TEST(!rq.has_better_than(Priority::Under));
    BOOST_TEST(rq.enqueue(eo).ok());
    BOOST_TEST(!rq.has_better_than(Priority::Over)); // equal is not better
    BOOST_TEST(!rq.has_better_than(Priority::Under));
    BOOST_TEST(rq.has_eligible());
    BOOST_TEST(rq.enqueue(eu).ok());
    BOOST_TEST(rq.has_better_than(Priority::Over));
    BOOST_TEST(!rq.has_better_than(Priority::Under)); // nothing beats Under
    u.capped = true;
    BOOST_TEST(!rq.has_better_than(Priority::Over));
}

BOOST_AUTO_TEST_CASE(runqueue_skips_paused_accounts_like_capped_ones) {
    ShareAccount p = under(), o = over();
    p.paused = true;
    Entity ep = entity(p), eo = entity(o);
    RunQueue rq;
    BOOST_TEST(rq.enqueue(ep).ok());
    BOOST_TEST(rq.enqueue(eo).ok());
    BOOST_TEST(!rq.has_better_than(Priority::Over));
    BOOST_TEST(rq.steal(1, true) == nullptr);
    BOOST_TEST(rq.pick() == &eo);
    BOOST_TEST(!rq.has_eligible());
    BOOST_TEST(ep.queued);
    p.paused = false; // unpaused: eligible again where it waited
    BOOST_TEST(rq.pick() == &ep);
}

BOOST_AUTO_TEST_CASE(runqueue_a_picked_entity_requeues_at_the_tail) {
    ShareAccount a = under();
    Entity e1 = entity(a), e2 = entity(a), e3 = entity(a);
    RunQueue rq;
    for (Entity* e : {&e1, &e2, &e3}) BOOST_TEST(rq.enqueue(*e).ok());
    // Round robin: each slice ends with the entity queued again.
    for (Entity* expected : {&e1, &e2, &e3, &e1, &e2}) {
        Entity* got = rq.pick();
        BOOST_TEST(got == expected);
        BOOST_TEST(rq.enqueue(*got).ok());
    }
    // The only one: head and tail at once.
    RunQueue one;
    Entity lone = entity(a);
    BOOST_TEST(one.enqueue(lone).ok());
    BOOST_TEST(one.remove(lone).ok());
    BOOST_TEST(one.pick() == nullptr);
    BOOST_TEST(one.enqueue(lone).ok());
    BOOST_TEST(one.pick() == &lone);
}

// The run queues against a model of their documented rules: random
// enqueues, removes, picks and steals over two CPUs' queues while the
// accounts' credit, caps and pauses change under them.
BOOST_AUTO_TEST_CASE(runqueue_matches_a_model_under_random_operations) {
    constexpr size_t kAccounts = 3, kEntities = 10;
    ShareAccount accounts[kAccounts];
    Entity entities[kEntities];
    std::mt19937 rng(20240611);
    for (size_t i = 0; i < kEntities; i++) {
        entities[i].account = &accounts[i % kAccounts];
        entities[i].level = static_cast<uint8_t>(rng() % 4 + 6);
        entities[i].affinity_cpu = rng() % 3 == 0 ? static_cast<uint32_t>(rng() % 2) : kAnyCpu;
    }
    RunQueue queues[2];
    std::vector<Entity*> model[2]; // each queue's order

    auto model_best = [](const std::vector<Entity*>& q, bool allow_over, auto ok) -> long {
        long first_over = -1;
        for (size_t i = 0; i < q.size(); i++) {
            if (!q[i]->eligible() || !ok(*q[i])) continue;
            if (q[i]->priority() == Priority::Under) return static_cast<long>(i);
            if (allow_over && first_over < 0) first_over = static_cast<long>(i);
        }
        return first_over;
    };
    auto any = [](const Entity&) { return true; };

    for (int step = 0; step < 20000; step++) {
        const size_t cpu = rng() % 2;
        RunQueue& rq = queues[cpu];
        std::vector<Entity*>& m = model[cpu];
        switch (rng() % 6) {
        case 0: { // enqueue
            Entity& e = entities[rng() % kEntities];
            const bool was_queued = e.queued;
            Status st = rq.enqueue(e);
            BOOST_REQUIRE(st.ok() == !was_queued);
            if (!was_queued) m.push_back(&e);
            break;
        }
        case 1: { // remove
            Entity& e = entities[rng() % kEntities];
            auto it = std::find(m.begin(), m.end(), &e);
            Status st = rq.remove(e);
            BOOST_REQUIRE(st.ok() == (it != m.end()));
            if (it != m.end()) m.erase(it);
            break;
        }
        case 2: { // pick: the account whose turn it is, its highest level
            long i = model_best(m, true, any);
            Entity* expected = nullptr;
            if (i >= 0) {
                size_t best = static_cast<size_t>(i);
                for (size_t j = best + 1; j < m.size(); j++)
                    if (m[j]->account == m[best]->account && m[j]->level > m[best]->level) best = j;
                expected = m[best];
                m.erase(m.begin() + static_cast<long>(best));
            }
            BOOST_REQUIRE(rq.pick() == expected);
            break;
        }
        case 3: { // the other CPU steals
            const uint32_t thief = static_cast<uint32_t>(1 - cpu);
            const bool only_under = rng() % 2;
            long i = model_best(m, !only_under, [thief](const Entity& c) {
                return c.affinity_cpu == kAnyCpu || c.affinity_cpu == thief;
            });
            Entity* expected = i >= 0 ? m[static_cast<size_t>(i)] : nullptr;
            if (i >= 0) m.erase(m.begin() + i);
            BOOST_REQUIRE(rq.steal(thief, only_under) == expected);
            break;
        }
        default: { // accounting moves on: credit, caps, pauses
            ShareAccount& a = accounts[rng() % kAccounts];
            switch (rng() % 3) {
            case 0: a.credit_ns = static_cast<int64_t>(rng() % 3) - 1; break;
            case 1: a.capped = rng() % 4 == 0; break;
            default: a.paused = rng() % 5 == 0; break;
            }
            break;
        }
        }
        BOOST_REQUIRE(rq.size() == m.size());
        BOOST_REQUIRE(rq.has_eligible() == (model_best(m, true, any) >= 0));
        BOOST_REQUIRE(rq.has_better_than(Priority::Over) == (model_best(m, false, any) >= 0));
        for (size_t i = 0; i < kEntities; i++) {
            const Entity* e = &entities[i];
            const bool in_model = std::count(model[0].begin(), model[0].end(), e) +
                                      std::count(model[1].begin(), model[1].end(), e) ==
                                  1;
            BOOST_REQUIRE(e->queued == in_model);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Simulation: nr_cpus CPUs with a RunQueue each, 10 ms ticks, refill every
// 30 ms, CPU-bound threads, and the kernel's rules:
//  - every tick, each CPU charges its running thread a tick;
//  - every period, refill over all domains;
//  - at slice end (every tick: the slice is one tick) a CPU keeps its thread
//    unless it is capped, a better class waits locally, or an equal-class
//    thread waits locally (round-robin, current goes to the tail);
//  - a CPU whose best local work is Over steals Under work from other CPUs;
//    an idle CPU steals anything eligible.

namespace {

struct SimDomain {
    std::string name;
    ShareAccount acct;
};

class Sim {
  public:
    explicit Sim(uint32_t nr_cpus) : nr_cpus_(nr_cpus), rqs_(new RunQueue[nr_cpus]),
                                     current_(nr_cpus, nullptr) {}

    // threads threads, all placed on CPU cpu's queue.
    SimDomain& add(const char* name, uint32_t weight, uint32_t threads, uint32_t cpu = 0,
                   uint32_t cap = 0) {
        domains_.push_back(SimDomain{name, ShareAccount{}});
        SimDomain& d = domains_.back();
        d.acct.weight = weight;
        d.acct.cap_percent = cap;
        for (uint32_t i = 0; i < threads; ++i) {
            threads_.emplace_back();
            Entity& e = threads_.back();
            e.account = &d.acct;
            ++d.acct.runnable; // CPU-bound: always runnable
            enqueue(cpu, e);
        }
        return d;
    }

    void run(uint64_t duration_ns) {
        std::vector<ShareAccount*> all;
        for (auto& d : domains_) all.push_back(&d.acct);
        refill(all.data(), all.size(), kPeriod, nr_cpus_);
        schedule_all();
        for (uint64_t t = kTick; t <= duration_ns; t += kTick) {
            for (uint32_t c = 0; c < nr_cpus_; ++c) {
                if (current_[c]) {
                    charge(*current_[c]->account, kTick, kPeriod);
                    ++busy_ticks_;
                } else {
                    ++idle_ticks_;
                }
            }
            check_concurrency();
            if (t % kPeriod == 0) refill(all.data(), all.size(), kPeriod, nr_cpus_);
            if (t == duration_ns) break;
            schedule_all();
        }
        ticks_ = duration_ns / kTick;
    }

    double share(const SimDomain& d) const {
        return double(d.acct.total_used_ns) / double(ticks_ * kTick); // in CPUs
    }
    uint64_t idle_ticks() const { return idle_ticks_; }
    uint64_t busy_ticks() const { return busy_ticks_; }
    uint64_t steals() const { return steals_; }
    uint32_t max_cpus_used(const SimDomain& d) const {
        auto it = max_cpus_.find(&d.acct);
        return it == max_cpus_.end() ? 0 : it->second;
    }

  private:
    void enqueue(uint32_t cpu, Entity& e) {
        BOOST_REQUIRE(rqs_[cpu].enqueue(e).ok());
        e.account->active = true; // kernel: active on enqueue
    }

    // Under work from another CPU (or anything, when !only_under), scanning
    // from the next CPU on so no CPU is always robbed first.
    Entity* steal_from_peers(uint32_t me, bool only_under) {
        for (uint32_t i = 1; i < nr_cpus_; ++i) {
            uint32_t victim = (me + i) % nr_cpus_;
            if (Entity* e = rqs_[victim].steal(me, only_under)) {
                ++steals_;
                return e;
            }
        }
        return nullptr;
    }

    void schedule(uint32_t cpu) {
        RunQueue& rq = rqs_[cpu];
        Entity* cur = current_[cpu];
        if (cur && cur->eligible()) {
            if (cur->priority() == Priority::Under) {
                if (!rq.has_better_than(Priority::Over)) return; // no other Under waits
            } else if (!rq.has_eligible()) {
                // Over with nothing local: prefer Under work from elsewhere.
                if (Entity* e = steal_from_peers(cpu, true)) {
                    enqueue(cpu, *cur);
                    current_[cpu] = e;
                }
                return;
            }
        }
        if (cur) enqueue(cpu, *cur); // tail: round-robin within its class
        Entity* next = nullptr;
        if (rq.has_better_than(Priority::Over)) {
            next = rq.pick(); // local Under work
        } else {
            next = steal_from_peers(cpu, true);
            if (!next) next = rq.pick();
            if (!next) next = steal_from_peers(cpu, false); // idle
        }
        current_[cpu] = next;
    }

    void schedule_all() {
        for (uint32_t c = 0; c < nr_cpus_; ++c) schedule(c);
    }

    void check_concurrency() {
        // Every thread is either running on one CPU or queued on one queue.
        size_t queued = 0, running = 0;
        for (uint32_t c = 0; c < nr_cpus_; ++c) {
            queued += rqs_[c].size();
            running += current_[c] != nullptr;
        }
        BOOST_REQUIRE_EQUAL(queued + running, threads_.size());
        std::map<const ShareAccount*, uint32_t> n;
        for (uint32_t c = 0; c < nr_cpus_; ++c) {
            if (!current_[c]) continue;
            BOOST_REQUIRE(!current_[c]->queued);
            for (uint32_t o = c + 1; o < nr_cpus_; ++o) BOOST_REQUIRE(current_[o] != current_[c]);
            ++n[current_[c]->account];
        }
        for (auto& [a, k] : n) max_cpus_[a] = std::max(max_cpus_[a], k);
    }

    uint32_t nr_cpus_;
    std::unique_ptr<RunQueue[]> rqs_;
    std::vector<Entity*> current_;
    std::deque<SimDomain> domains_; // deque: stable addresses
    std::deque<Entity> threads_;
    std::map<const ShareAccount*, uint32_t> max_cpus_;
    uint64_t ticks_ = 0, busy_ticks_ = 0, idle_ticks_ = 0, steals_ = 0;
};

constexpr uint64_t kSimTime = 3 * kSec;

} // namespace

BOOST_AUTO_TEST_SUITE(sched_credit)

BOOST_AUTO_TEST_CASE(sim_one_cpu_weights_one_to_two) {
    Sim sim(1);
    SimDomain& a = sim.add("a", 256, 1);
    SimDomain& b = sim.add("b", 512, 1);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("1 CPU 1:2: a=" << sim.share(a) << " b=" << sim.share(b));
    BOOST_TEST(std::abs(sim.share(a) - 1.0 / 3) <= 0.03);
    BOOST_TEST(std::abs(sim.share(b) - 2.0 / 3) <= 0.03);
    BOOST_TEST(sim.idle_ticks() == 0u);
}

BOOST_AUTO_TEST_CASE(sim_two_cpus_two_threads_each_all_start_on_cpu0) {
    Sim sim(2);
    SimDomain& a = sim.add("a", 256, 2, 0);
    SimDomain& b = sim.add("b", 512, 2, 0);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("2 CPUs 1:2 x2 threads: a=" << sim.share(a) << " b=" << sim.share(b)
                                                   << " steals=" << sim.steals());
    BOOST_TEST(sim.steals() > 0u);
    BOOST_TEST(std::abs(sim.share(a) - 2.0 / 3) <= 0.05);
    BOOST_TEST(std::abs(sim.share(b) - 4.0 / 3) <= 0.05);
    BOOST_TEST(sim.idle_ticks() == 0u);
}

BOOST_AUTO_TEST_CASE(sim_two_cpus_three_equal_domains) {
    Sim sim(2);
    SimDomain& a = sim.add("a", 256, 1, 0);
    SimDomain& b = sim.add("b", 256, 1, 0);
    SimDomain& c = sim.add("c", 256, 1, 1);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("2 CPUs 1:1:1: a=" << sim.share(a) << " b=" << sim.share(b)
                                          << " c=" << sim.share(c));
    for (SimDomain* d : {&a, &b, &c}) {
        BOOST_TEST(std::abs(sim.share(*d) - 2.0 / 3) <= 0.05, d->name << " " << sim.share(*d));
        BOOST_TEST(sim.max_cpus_used(*d) == 1u);
    }
    BOOST_TEST(sim.idle_ticks() == 0u);
}

BOOST_AUTO_TEST_CASE(sim_two_cpus_uneven_threads) {
    // Equal weights, 1 vs 3 threads, all on CPU 0: each domain gets one CPU
    // (the single thread cannot use more, so stealing must keep it running).
    Sim sim(2);
    SimDomain& a = sim.add("a", 256, 1, 0);
    SimDomain& b = sim.add("b", 256, 3, 0);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("2 CPUs 1:1, 1 vs 3 threads: a=" << sim.share(a) << " b=" << sim.share(b));
    BOOST_TEST(std::abs(sim.share(a) - 1.0) <= 0.05);
    BOOST_TEST(std::abs(sim.share(b) - 1.0) <= 0.05);
    BOOST_TEST(sim.idle_ticks() == 0u);
}

BOOST_AUTO_TEST_CASE(sim_many_cpus_mixed) {
    // 4 CPUs, weights 1:1:2:4 with 2 threads each, spread unevenly: shares by
    // weight (8 CPUs' worth of demand for 4 CPUs, so no domain is held back
    // by its thread count: ideal 0.5, 0.5, 1, 2).
    Sim sim(4);
    SimDomain& a = sim.add("a", 100, 2, 0);
    SimDomain& b = sim.add("b", 100, 2, 0);
    SimDomain& c = sim.add("c", 200, 2, 1);
    SimDomain& d = sim.add("d", 400, 2, 0);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("4 CPUs 1:1:2:4 x2 threads: a=" << sim.share(a) << " b=" << sim.share(b)
                                                       << " c=" << sim.share(c)
                                                       << " d=" << sim.share(d));
    BOOST_TEST(std::abs(sim.share(a) - 0.5) <= 0.1);
    BOOST_TEST(std::abs(sim.share(b) - 0.5) <= 0.1);
    BOOST_TEST(std::abs(sim.share(c) - 1.0) <= 0.1);
    BOOST_TEST(std::abs(sim.share(d) - 2.0) <= 0.1);
    BOOST_TEST(sim.idle_ticks() == 0u);
}

BOOST_AUTO_TEST_CASE(sim_cap_alone_on_one_cpu) {
    Sim sim(1);
    SimDomain& a = sim.add("a", 256, 1, 0, 30);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("1 CPU cap 30: a=" << sim.share(a));
    BOOST_TEST(sim.share(a) <= 0.31);
    BOOST_TEST(sim.share(a) >= 0.25);
    BOOST_TEST(sim.busy_ticks() + sim.idle_ticks() == kSimTime / kTick);
    BOOST_TEST(sim.busy_ticks() * kTick == a.acct.total_used_ns); // idle otherwise
}

BOOST_AUTO_TEST_CASE(sim_cap_with_competition) {
    // A capped two-thread domain next to an uncapped one on 2 CPUs: the capped
    // one stays at its cap, the other takes everything else.
    Sim sim(2);
    SimDomain& capped = sim.add("capped", 1024, 2, 0, 50);
    SimDomain& other = sim.add("other", 256, 2, 1);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("2 CPUs cap 50 vs uncapped: capped=" << sim.share(capped)
                                                            << " other=" << sim.share(other));
    BOOST_TEST(sim.share(capped) <= 0.51);
    BOOST_TEST(sim.share(capped) >= 0.45);
    BOOST_TEST(std::abs(sim.share(capped) + sim.share(other) - 2.0) <= 0.001);
}

BOOST_AUTO_TEST_CASE(sim_work_conservation_single_thread) {
    Sim sim(2);
    SimDomain& a = sim.add("a", 256, 1, 1);
    sim.run(kSimTime);
    BOOST_TEST_MESSAGE("2 CPUs, one thread: a=" << sim.share(a));
    BOOST_TEST(sim.share(a) >= 0.99);
    BOOST_TEST(sim.share(a) <= 1.0);
    BOOST_TEST(sim.max_cpus_used(a) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
