// Scheduler credit accounting and run queues (see credit.hpp).
#include "sched/credit.hpp"

namespace virtue::sched {

namespace {

// Out-of-range weights are clamped rather than trusted: 0 would divide by
// zero, larger ones would break the overflow bounds in refill().
uint64_t weight_of(const ShareAccount& a) {
    if (a.weight < kMinWeight) return kMinWeight;
    if (a.weight > kMaxWeight) return kMaxWeight;
    return a.weight;
}

// Does a's cap hold it below its proportional share at the water level
// rem / wsum (credit per unit of weight)? Only caps below the whole period's
// credit can bind, which also bounds lim * wsum (< 2^36 * 2^22 in the
// documented limits).
bool cap_binds(const ShareAccount& a, uint64_t lim, uint64_t total, uint64_t rem,
               uint64_t wsum) {
    if (lim >= total) return false;
    if (wsum == 0) return true; // every other account is already held at its cap
    return lim * wsum < rem * weight_of(a);
}

} // namespace

uint64_t cap_limit_ns(const ShareAccount& a, uint64_t period_ns) {
    if (a.cap_percent == 0) return UINT64_MAX;
    // Split so that cap_percent * period_ns cannot overflow; exact.
    uint64_t cap = a.cap_percent;
    return (period_ns / 100) * cap + (period_ns % 100) * cap / 100;
}

void charge(ShareAccount& a, uint64_t ns, uint64_t period_ns) {
    a.used_in_period_ns += ns;
    a.total_used_ns += ns;
    // Saturate instead of wrapping: a wrapped debt would become a huge credit.
    // (unsigned math: room = credit - INT64_MIN; the result is in range.)
    uint64_t room = uint64_t(a.credit_ns) - uint64_t(INT64_MIN);
    a.credit_ns = ns >= room ? INT64_MIN : int64_t(uint64_t(a.credit_ns) - ns);
    a.active = true;
    if (a.cap_percent != 0 && a.used_in_period_ns >= cap_limit_ns(a, period_ns)) a.capped = true;
}

void refill(ShareAccount* const* accounts, size_t count, uint64_t period_ns, uint32_t nr_cpus) {
    const uint64_t total = period_ns * nr_cpus;

    // Water-filling: find the level (rem / wsum) at which every account whose
    // cap lies below its share gets exactly its cap and the others share the
    // rest by weight. Each round only adds accounts to the capped set and only
    // raises the level, so it settles within count + 1 rounds.
    uint64_t rem = total;
    uint64_t wsum = 0;
    for (size_t i = 0; i < count; ++i)
        if (accounts[i] && accounts[i]->active) wsum += weight_of(*accounts[i]);
    for (size_t round = 0; round <= count; ++round) {
        uint64_t next_rem = total;
        uint64_t next_wsum = 0;
        for (size_t i = 0; i < count; ++i) {
            const ShareAccount* a = accounts[i];
            if (!a || !a->active) continue;
            uint64_t lim = cap_limit_ns(*a, period_ns);
            if (cap_binds(*a, lim, total, rem, wsum))
                next_rem = next_rem > lim ? next_rem - lim : 0;
            else
                next_wsum += weight_of(*a);
        }
        if (next_rem == rem && next_wsum == wsum) break;
        rem = next_rem;
        wsum = next_wsum;
    }

    // Uncapped shares from a running sum, so rounding never loses credit:
    // grant_i = floor(rem * cum_i / wsum) - floor(rem * cum_{i-1} / wsum).
    uint64_t cum = 0;
    uint64_t handed = 0;
    for (size_t i = 0; i < count; ++i) {
        ShareAccount* a = accounts[i];
        if (!a) continue;
        uint64_t lim = cap_limit_ns(*a, period_ns);
        if (a->active) {
            uint64_t grant;
            if (cap_binds(*a, lim, total, rem, wsum)) {
                grant = lim;
            } else {
                cum += weight_of(*a);
                uint64_t upto = rem * cum / wsum;
                grant = upto - handed;
                handed = upto;
                if (grant > lim) grant = lim; // rounding must not break the cap
            }
            // clamp(credit + g, -kDebtPeriods * g, g) without overflow: credit
            // >= 0 gives g; a debt is first clamped, then paid by one grant.
            int64_t g = int64_t(grant);
            int64_t floor = -kDebtPeriods * g;
            int64_t debt = a->credit_ns < floor ? floor : a->credit_ns;
            a->credit_ns = a->credit_ns >= 0 ? g : (debt + g < floor ? floor : debt + g);
        } else if (a->credit_ns > 0) {
            a->credit_ns = 0; // idle: saved credit is lost, debts stay
        }

        // Charges come per tick, so a capped domain overshoots its cap by up
        // to a tick per thread; carrying the overshoot (at most one period's
        // cap) keeps its long-run average at the cap.
        uint64_t carry = 0;
        if (a->cap_percent != 0 && a->used_in_period_ns > lim) {
            carry = a->used_in_period_ns - lim;
            if (carry > lim) carry = lim;
        }
        a->used_in_period_ns = carry;
        a->capped = a->cap_percent != 0 && carry >= lim;
        a->active = a->runnable > 0;
    }
}

// ---- RunQueue ----

template <typename Ok>
Entity* RunQueue::best(bool allow_over, Ok ok) const {
    Entity* first_over = nullptr;
    for (Entity* e = head_; e; e = e->next) {
        if (!e->eligible() || !ok(*e)) continue;
        if (e->priority() == Priority::Under) return e;
        if (allow_over && !first_over) first_over = e;
    }
    return first_over;
}

bool RunQueue::contains(const Entity& e) const {
    for (const Entity* it = head_; it; it = it->next)
        if (it == &e) return true;
    return false;
}

[[gnu::hot]] void RunQueue::unlink(Entity& e) {
    if (e.prev)
        e.prev->next = e.next;
    else
        head_ = e.next;
    if (e.next)
        e.next->prev = e.prev;
    else
        tail_ = e.prev;
    e.next = e.prev = nullptr;
    e.queued = false;
    --size_;
}

[[gnu::hot]] Status RunQueue::enqueue(Entity& e) {
    if (e.queued) return Err::Busy;
    if (!e.account) return Err::InvalidArgument;
    e.next = nullptr;
    e.prev = tail_;
    if (tail_)
        tail_->next = &e;
    else
        head_ = &e;
    tail_ = &e;
    e.queued = true;
    ++size_;
    return Status::success();
}

[[gnu::hot]] Status RunQueue::remove(Entity& e) {
    // queued alone cannot tell which CPU's queue holds e; the scan can (and
    // queues are short).
    if (!e.queued || !contains(e)) return Err::NotFound;
    unlink(e);
    return Status::success();
}

[[gnu::hot]] Entity* RunQueue::pick() {
    Entity* e = best(true, [](const Entity&) { return true; });
    if (!e) return nullptr;
    for (Entity* c = e->next; c; c = c->next)
        if (c->account == e->account && c->level > e->level) e = c;
    unlink(*e);
    return e;
}

Entity* RunQueue::steal(uint32_t thief_cpu, bool only_under) {
    Entity* e = best(!only_under, [thief_cpu](const Entity& c) {
        return c.affinity_cpu == kAnyCpu || c.affinity_cpu == thief_cpu;
    });
    if (e) unlink(*e);
    return e;
}

bool RunQueue::has_better_than(Priority p) const {
    if (p == Priority::Under) return false; // nothing beats Under
    return best(false, [](const Entity&) { return true; }) != nullptr;
}

bool RunQueue::has_eligible() const {
    return best(true, [](const Entity&) { return true; }) != nullptr;
}

} // namespace virtue::sched
