// Lock ranks: the one declaration of the order in which spinlocks nest.
//
// Every SpinLock is given a rank where it is defined
// (`SpinLock lock{LockRank::DomainHandles};`). A CPU may take a lock only
// if its rank is above the rank of every lock the CPU already holds, so
// the ranks below are listed outermost first. Debug builds (VIRTUE_DEBUG)
// check this on every acquisition and panic naming both locks; release
// builds store and check nothing.
//
// Two locks of the same rank nest only where the rank says so:
//   - EventTable: two domains' tables (interdomain bind and close), taken
//     together through IrqLockPairGuard, which takes the lower address
//     first; the check enforces that order.
//   - CpuQueue: another CPU's queue is only ever try-locked while holding
//     one's own (work stealing); a try-lock cannot deadlock.
// Every other rank: never two at once.
//
// try_lock is checked against nothing (it never waits, so it cannot close
// a cycle), but a lock it took is held like any other: what is taken after
// it must rank above it.
//
// An interrupt handler's locks nest inside whatever the interrupted code
// holds (an IRQ-enabled holder can be interrupted), and are checked so.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace virtue {

enum class LockRank : uint8_t {
    // GrantTable::grow_lock: one growth of a domain's grant table at a
    // time (its frame count); maps the new frames under mm_lock.
    GrantGrow,
    // Domain::mm_lock: the domain's page tables, address-space and region
    // lists, frame reference counts. Waiting for it serves TLB-flush
    // requests (its holder may wait for shootdown acknowledgements).
    DomainMm,
    // GrantTable::lock: a domain's grant entries, pins, holds, foreign
    // mappings and grant handles.
    GrantTable,
    // The armed-timer list (time/timer_object.cpp); timers expire under
    // it, and a Xen vCPU timer's expiry raises a virq (event table lock).
    TimerList,
    // EventTable::lock: a domain's event-channel ports and its shared_info
    // bits. Two at once in address order (IrqLockPairGuard).
    EventTable,
    // Domain::lock: the partition's free lists, the console line, thread
    // slots, fault queues and handlers, endpoints list, pause and death.
    Domain,
    // Endpoint::lock: an IPC endpoint's call queue and death.
    Endpoint,
    // Waitable::lock: one waitable object's ready state and waiter list
    // (a thread's exit/stop, its fault queue, a timer, a port, an
    // endpoint's servers, a call's reply). Waking takes CPU queue locks.
    Waitable,
    // The scheduler's per-CPU queue lock: run queue, sleep list, the
    // scheduling state of threads on them. Held across a context switch.
    // Other CPUs' queues: try-lock only.
    CpuQueue,
    // The scheduler's credit accounting (every domain's ShareAccount).
    SchedAccount,
    // The domain registry: the list of domains and their ids.
    DomainRegistry,
    // Domain::handles_lock: a domain's handle table. Nothing is taken under
    // it: references are dropped after it is released (a last reference
    // destroys the object, which takes other locks).
    DomainHandles,
    // The pool of freed thread kernel stacks.
    KernelStacks,
    // The hypervisor's own page tables (arch/x86/mm/paging.cpp); new
    // tables come from the buddy allocator.
    HvPageTables,
    // The hypervisor heap's size classes; pages come from the buddy
    // allocator.
    Heap,
    // The buddy allocator and the frame table's owners.
    Buddy,
    // The console: innermost, so that any holder may log.
    Console,
    Count_,
};

inline constexpr size_t kLockRanks = static_cast<size_t>(LockRank::Count_);

const char* lock_rank_name(LockRank r);

// Whether two locks of rank r may be held at once (in address order).
bool lock_rank_nests_by_address(LockRank r);

// The locks one CPU holds, in the order taken (debug builds keep one per
// CPU in arch::PerCpu). Pure logic, so the host tests drive it directly.
class HeldLocks {
  public:
    static constexpr size_t kMax = 16;

    struct Entry {
        const void* lock;
        LockRank rank;
    };

    // The held lock that forbids taking `lock` (rank r) now, or nullptr if
    // it may be taken: every held lock must rank below r, or share its
    // rank when that rank nests by address and sit at a lower address.
    const Entry* conflict(const void* lock, LockRank r) const;
    // Records a lock taken; false if kMax are held already.
    bool push(const void* lock, LockRank r);
    // Forgets a lock released (released out of order is fine); false if
    // it was not held.
    bool remove(const void* lock);
    size_t depth() const { return depth_; }
    const Entry& at(size_t i) const { return held_[i]; }
    void clear() { depth_ = 0; }

  private:
    Entry held_[kMax];
    size_t depth_ = 0;
};

} // namespace virtue
