// Debug builds' lock-rank checks (lib/spinlock.hpp, lib/lock_rank.hpp),
// on the held locks each CPU keeps in its PerCpu.
#include "lib/spinlock.hpp"

#ifdef VIRTUE_DEBUG

#include "arch/percpu.hpp"

namespace virtue {
namespace {

// Set once by the panic path, never cleared. Relaxed: the panicking CPU
// sets it before it takes any lock, and the other CPUs are being stopped
// (a check that still runs on one of them changes nothing).
bool g_stopped = false;

bool stopped() { return __atomic_load_n(&g_stopped, __ATOMIC_RELAXED); }

[[noreturn]] void report(const char* what, const void* lock, LockRank rank, const HeldLocks::Entry* held) {
    lock_ranks_stop();
    if (held)
        panic("lock order: %s %s lock %p while holding %s lock %p (CPU %u)", what, lock_rank_name(rank), lock,
              lock_rank_name(held->rank), held->lock, arch::cpu_index());
    panic("lock order: %s %s lock %p (CPU %u)", what, lock_rank_name(rank), lock, arch::cpu_index());
}

} // namespace

void lock_rank_acquire(const void* lock, LockRank rank) {
    if (stopped()) return;
    HeldLocks& held = arch::this_cpu().held_locks;
    if (const HeldLocks::Entry* e = held.conflict(lock, rank)) report("taking", lock, rank, e);
    if (!held.push(lock, rank)) report("too many locks held taking", lock, rank, nullptr);
}

void lock_rank_took(const void* lock, LockRank rank) {
    if (stopped()) return;
    if (!arch::this_cpu().held_locks.push(lock, rank)) report("too many locks held try-taking", lock, rank, nullptr);
}

void lock_rank_release(const void* lock) {
    if (stopped()) return;
    if (!arch::this_cpu().held_locks.remove(lock)) {
        lock_ranks_stop();
        panic("lock order: releasing lock %p, which CPU %u does not hold", lock, arch::cpu_index());
    }
}

void lock_ranks_check_switch(const void* queue_lock) {
    if (stopped()) return;
    const HeldLocks& held = arch::this_cpu().held_locks;
    if (held.depth() == 1 && held.at(0).lock == queue_lock) return;
    lock_ranks_stop();
    if (held.depth() == 0) panic("lock order: context switch on CPU %u without its queue lock", arch::cpu_index());
    const HeldLocks::Entry& last = held.at(held.depth() - 1);
    panic("lock order: context switch on CPU %u holding %zu locks (last taken: %s lock %p)", arch::cpu_index(),
          held.depth(), lock_rank_name(last.rank), last.lock);
}

void lock_ranks_stop() { __atomic_store_n(&g_stopped, true, __ATOMIC_RELAXED); }

} // namespace virtue

#endif
