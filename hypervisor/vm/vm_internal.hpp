// Pieces shared by the vm/ files: the page-table policy for address spaces
// of a domain, deferred frees, frame-count helpers, the mm lock.
#pragma once

#include "arch/paging.hpp"
#include "arch/tlb.hpp"
#include "arch/x86/mm/page_table.hpp"
#include "domain/domain.hpp"
#include "mm/memory.hpp"
#include "vm/address_space.hpp"

namespace virtue::vm_detail {

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

class MmLock {
  public:
    explicit MmLock(Domain& d) : d_(d) { d_.mm_lock.lock_polling(arch::tlb_serve_requests); }
    ~MmLock() { d_.mm_lock.unlock(); }
    MmLock(const MmLock&) = delete;
    MmLock& operator=(const MmLock&) = delete;

  private:
    Domain& d_;
};

} // namespace virtue::vm_detail
