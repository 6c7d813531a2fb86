// Lock ranks (lib/lock_rank.hpp): names and the held-lock bookkeeping.
#include "lib/lock_rank.hpp"

namespace virtue {

const char* lock_rank_name(LockRank r) {
    switch (r) {
    case LockRank::GrantGrow: return "GrantGrow";
    case LockRank::DomainMm: return "DomainMm";
    case LockRank::GrantTable: return "GrantTable";
    case LockRank::TimerList: return "TimerList";
    case LockRank::EventTable: return "EventTable";
    case LockRank::Domain: return "Domain";
    case LockRank::Endpoint: return "Endpoint";
    case LockRank::Waitable: return "Waitable";
    case LockRank::CpuQueue: return "CpuQueue";
    case LockRank::SchedAccount: return "SchedAccount";
    case LockRank::DomainRegistry: return "DomainRegistry";
    case LockRank::DomainHandles: return "DomainHandles";
    case LockRank::KernelStacks: return "KernelStacks";
    case LockRank::HvPageTables: return "HvPageTables";
    case LockRank::Heap: return "Heap";
    case LockRank::Buddy: return "Buddy";
    case LockRank::Console: return "Console";
    case LockRank::Count_: break;
    }
    return "?";
}

bool lock_rank_nests_by_address(LockRank r) { return r == LockRank::EventTable; }

const HeldLocks::Entry* HeldLocks::conflict(const void* lock, LockRank r) const {
    for (size_t i = 0; i < depth_; i++) {
        const Entry& e = held_[i];
        if (e.rank < r) continue;
        if (e.rank == r && lock_rank_nests_by_address(r) &&
            reinterpret_cast<uintptr_t>(e.lock) < reinterpret_cast<uintptr_t>(lock))
            continue;
        return &e;
    }
    return nullptr;
}

bool HeldLocks::push(const void* lock, LockRank r) {
    if (depth_ == kMax) return false;
    held_[depth_++] = Entry{lock, r};
    return true;
}

bool HeldLocks::remove(const void* lock) {
    for (size_t i = depth_; i-- > 0;) {
        if (held_[i].lock != lock) continue;
        for (size_t j = i + 1; j < depth_; j++) held_[j - 1] = held_[j];
        depth_--;
        return true;
    }
    return false;
}

} // namespace virtue
