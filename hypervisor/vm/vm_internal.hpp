// Pieces shared by the vm/ files: the page-table policy for address spaces
// of a domain, deferred frees, frame-count helpers, the mm lock.
#pragma once

#include "arch/paging.hpp"
#include "arch/tlb.hpp"
#include "arch/page_table.hpp"
#include "domain/domain.hpp"
#include "mm/memory.hpp"
#include "sched/scheduler.hpp"
#include "vm/address_space.hpp"

namespace virtue::vm_detail {

// Per-frame loops can run long (a region may have 2^20 frames, a 1 GiB
// leaf covers 2^18) and the hypervisor runs with interrupts off: every
// 4096 frames they answer the TLB shootdown requests other CPUs may be
// waiting for, so that only the calling CPU (whose domain pays for the
// time) waits for them.
inline void poll_long_loop(uint64_t i) {
    if ((i & 4095) == 4095) arch::tlb_serve_requests();
}

// Cache-disabled or write-through user mappings of partition RAM, which the
// hypervisor's direct map covers write-back: the frames' cache lines are
// written back and invalidated when such a mapping is made (the zeroes the
// hypervisor wrote may still sit in a cache, and an uncached read would see
// what the frame held before) and when it goes (a later write-back mapping
// must not hit lines filled before the uncached writes).
inline bool uncached(uint64_t leaf_flags) { return leaf_flags & (pte::PCD | pte::PWT); }
inline void flush_frames(PhysAddr pa, uint64_t bytes) {
    for (uint64_t off = 0; off < bytes; off += PAGE_SIZE) {
        arch::clflush_range(arch::phys_ptr<void>(pa + off), PAGE_SIZE);
        poll_long_loop(off >> PAGE_SHIFT);
    }
}

// Frames that may be reused only after a TLB shootdown (page tables other
// CPUs may still walk, frames they may still reach), linked through
// FrameInfo::next.
struct Deferred {
    uint32_t head = FRAME_NIL;
    void push(Mfn m) {
        frame_info(m).next = head;
        head = static_cast<uint32_t>(m.raw());
    }
    // Gives them to the partition (not under mm_lock's critical edits: it
    // takes d.lock, which nests inside mm_lock anyway).
    void release(Domain& d) {
        while (head != FRAME_NIL) {
            Mfn m(head);
            head = frame_info(m).next;
            domain_free_frame(d, m);
        }
    }
};

// Page tables from the partition. Freed tables wait in `deferred`.
struct TablePolicy {
    Domain* domain;
    Deferred* deferred;
    Result<PhysAddr> alloc_table() {
        auto m = domain_alloc_frame(*domain);
        if (!m) return m.error();
        return to_phys(*m);
    }
    void free_table(PhysAddr pa) { deferred->push(pa.mfn()); }
    uint64_t* table_ptr(PhysAddr pa) { return arch::phys_ptr<uint64_t>(pa); }
    bool has_1g_pages() { return arch::paging_features().pages_1g; }
    // The hypervisor's slots are shared, never edited through a domain.
    bool keep_table(unsigned level, uint64_t va) { return level == 3 && va >= HV_RANGE_START; }
};
using Editor = PageTableEditor<TablePolicy>;

// The thread that gives back an object of d released now (vm_release_step),
// or nullptr if it must go at once: teardown, no thread of d running, or
// one that is exiting.
inline Thread* releasing_thread(Domain& d) {
    Thread* t = current_thread();
    if (!t || t->domain != &d || d.tearing_down || t->exited) return nullptr;
    return t;
}

// One step of giving back a released region / address space (under the
// domain's mm_lock, taken inside); true once it is all gone (the object
// then freed).
bool region_release_step(Domain& d, MemRegion& r);
bool aspace_release_step(Domain& d, AddressSpace& as);

class MmLock : PollingLockGuard {
  public:
    explicit MmLock(Domain& d) : PollingLockGuard(d.mm_lock, arch::tlb_serve_requests) {}
};

} // namespace virtue::vm_detail
