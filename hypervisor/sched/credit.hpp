// Scheduler, pure logic: proportional-share credit accounting and per-CPU run
// queues. No heap, no floating point, no locking: the kernel wraps each
// RunQueue in its own lock and calls the accounting functions with the locks
// that protect the accounts held. Nothing here touches hardware.
//
// Model (in the spirit of Xen's credit scheduler)
// -----------------------------------------------
// Each domain has a ShareAccount. Every tick the kernel charges the running
// thread's CPU time to its account (charge()); every accounting period CPU 0
// hands out period_ns * nr_cpus of credit among the domains that were active,
// in proportion to their weights (refill()). A domain with credit left runs
// at priority Under, one that has spent its credit at priority Over, so Under
// work always goes first but Over work still uses otherwise idle CPUs (work
// conserving). Credit is clamped to [-kDebtPeriods grants, +1 grant]: a domain
// cannot bank more than one period, and can owe a few, so that slices longer
// than a period (a host that delays the guest's ticks, e.g. TCG under load)
// still count in full instead of being forgotten at the next refill.
//
// A cap (percent of ONE CPU per period; > 100 for multi-thread domains) is
// hard: once a domain has used its cap in a period it is "capped" and no CPU
// picks it until the next refill, even if CPUs are idle. Charges happen per
// tick, so a domain usually overshoots its cap by part of a tick; refill()
// carries that overshoot into the next period (at most one period's cap) so
// that on average the domain stays at its cap instead of cap rounded up to a
// whole tick.
//
// Limits: the arithmetic is exact 64-bit integer math for weights up to 65535,
// up to 64 accounts, periods up to 1 s and up to 64 CPUs (and well beyond:
// the products stay below 2^59).
//
// Run queues
// ----------
// One RunQueue per CPU: an intrusive doubly linked FIFO of Entities (the kernel
// embeds one per thread). An entity's priority is always read live from its
// account, because credit changes while it waits, so pick() scans the queue
// (queues are short: a few threads per CPU) and takes the first eligible Under
// entity, else the first eligible Over one. Entities of capped domains are
// skipped but stay queued, and become eligible again at the next refill.
// steal() lets another CPU take work (Under only, when the thief has Over work
// of its own); entities pinned to a CPU are never stolen by another.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"

namespace virtue::sched {

enum class Priority : uint8_t { Under = 0, Over = 1 }; // Under: domain has credit left

constexpr uint32_t kMinWeight = 1;
constexpr uint32_t kMaxWeight = 65535;
constexpr uint32_t kDefaultWeight = 256;
constexpr uint32_t kAnyCpu = UINT32_MAX; // Entity::affinity_cpu: not pinned

// One per domain: its share parameters and credit state.
struct ShareAccount {
    uint32_t weight = kDefaultWeight; // 1..65535
    uint32_t cap_percent = 0;       // 0 = uncapped; else max CPU per period in percent of
                                    // ONE CPU (may exceed 100 for multi-thread domains)
    int64_t credit_ns = 0;          // remaining credit; consumed by charge(), refilled by refill()
    uint64_t used_in_period_ns = 0; // CPU time used since the last refill (plus the cap
                                    // overshoot carried over from the previous period)
    uint64_t total_used_ns = 0;     // lifetime CPU time (reported by the hypervisor)
    uint32_t runnable = 0;          // threads of the domain that are runnable or running
                                    // (kernel maintains)
    bool capped = false;            // cap reached in this period: not eligible until refill
    bool active = false;            // ran or was runnable during the current period
                                    // (kernel sets true on charge/enqueue)
    Priority priority() const { return credit_ns > 0 ? Priority::Under : Priority::Over; }
    bool paused = false;            // domain paused by its controller: never eligible
    bool eligible() const { return !capped && !paused; }
};

// The most CPU time a capped account may use in one period
// (cap_percent * period_ns / 100); UINT64_MAX when uncapped.
uint64_t cap_limit_ns(const ShareAccount& a, uint64_t period_ns);

// Charges ns of CPU time to the account: credit, period and total usage; sets
// capped when cap_percent != 0 and used_in_period_ns >= cap_limit_ns(). Marks
// active. Credit saturates at INT64_MIN rather than wrapping.
void charge(ShareAccount& a, uint64_t ns, uint64_t period_ns);

// Start of an accounting period: distributes period_ns * nr_cpus of credit
// among the active accounts in proportion to weight. A capped account's grant
// is limited to its cap limit, and what it cannot take is shared among the
// others by weight (water-filling), so the grants still add up to the whole
// period unless every active account is held at its cap. Grants of uncapped
// accounts sum exactly (no rounding loss). Credit is clamped to
// [-kDebtPeriods * grant, +grant] after adding. Accounts that are not active get no grant and
// their credit decays to min(credit, 0) (they lose saved credit but keep
// debts). Then: used_in_period_ns is reset (to the cap overshoot, see above,
// for capped accounts; else 0), capped = (carried overshoot reaches the cap),
// active = (runnable > 0). Null entries in accounts are skipped.
inline constexpr int64_t kDebtPeriods = 4;
void refill(ShareAccount* const* accounts, size_t count, uint64_t period_ns, uint32_t nr_cpus);

// A schedulable entity (the kernel embeds one in each thread). Intrusive
// doubly linked list links, owned by the RunQueue it is queued on.
struct Entity {
    Entity* next = nullptr;
    Entity* prev = nullptr;
    ShareAccount* account = nullptr; // its domain's account (required)
    bool queued = false;
    uint32_t affinity_cpu = kAnyCpu; // kAnyCpu = may run anywhere; otherwise pinned (never stolen)
    uint8_t level = 8;               // priority among the entities of the same account (higher first)

    Priority priority() const { return account->priority(); }
    bool eligible() const { return account->eligible(); }
};

// Per-CPU run queue: FIFO per priority class, picked Under first, then Over;
// entities whose account is capped (not eligible) are skipped but stay queued.
// Within one account, higher levels go first (pick()).
class RunQueue {
  public:
    RunQueue() = default;
    RunQueue(const RunQueue&) = delete;
    RunQueue& operator=(const RunQueue&) = delete;

    // Appends e at the tail. Err::Busy if e is already queued (here or
    // elsewhere), Err::InvalidArgument if it has no account.
    Status enqueue(Entity& e);
    // Err::NotFound if e is not queued in this queue.
    Status remove(Entity& e);
    // Removes and returns the best eligible entity, or nullptr. The account
    // whose turn it is is chosen as above; among that account's queued
    // entities the one with the highest level goes first (FIFO among equal
    // levels), so levels order threads within a domain's share and never
    // take CPU time from another domain.
    Entity* pick();
    // Best eligible entity a CPU with index thief_cpu may steal: Under
    // entities only when only_under is true; never one pinned to another CPU.
    // Removes and returns it, or nullptr.
    Entity* steal(uint32_t thief_cpu, bool only_under);
    // Would the best eligible queued entity preempt a running entity of
    // priority p? (true when some eligible queued entity has a strictly better
    // priority class than p)
    bool has_better_than(Priority p) const;
    bool has_eligible() const;
    size_t size() const { return size_; }

  private:
    // First eligible Under entity accepted by ok(), else (if allow_over) the
    // first eligible Over one; nullptr if none. One pass over the queue.
    template <typename Ok>
    Entity* best(bool allow_over, Ok ok) const;
    bool contains(const Entity& e) const;
    void unlink(Entity& e);

    Entity* head_ = nullptr;
    Entity* tail_ = nullptr;
    size_t size_ = 0;
};

} // namespace virtue::sched
