// The frame table: one FrameInfo per machine frame, so that every frame has
// exactly one owner and memory is partitioned, never overcommitted.
//
// Every frame has exactly one owner:
//   DOMID_INVALID  free RAM, held by the buddy allocator ("free" marker)
//   DOMID_XEN      RAM used by the hypervisor itself
//   DOMID_IO       not RAM: holes, MMIO, firmware-reserved ranges
//   0..DOMID_FIRST_RESERVED-1   RAM owned by that domain
// Other reserved ids (DOMID_SELF, DOMID_COW, ...) never appear as owners.
//
// type/type_count/ref_count follow Xen's page_info: ref_count is how many
// references keep the frame alive; type_count is how many validated uses of
// the current type exist (e.g. how many L2 entries map it as an L1). A frame
// with either count non-zero cannot be freed.
//
// Not thread-safe: the caller serialises access (the hypervisor wraps the
// allocator that owns the table in a spinlock guard).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>

#include <compare> // lib/addr.hpp uses <=> without including it

#include "lib/addr.hpp"
#include "lib/result.hpp"

namespace virtue {

// PV MMU page types (for the PV page-table validation, which is not written yet).
enum class PageType : uint8_t {
    None,
    L1, // page-table levels, L1 = PT ... L4 = PML4
    L2,
    L3,
    L4,
    SegDesc,  // GDT/LDT page
    Writable, // mapped writable somewhere
    Memory,   // native domain: mappable memory (a memory region's frame or a
              // boot-time mapping); ref_count = how many leaves map it
};

// Free marker for FrameInfo::owner.
inline constexpr domid_t DOMID_FREE = DOMID_INVALID;

// Owners the allocator may hand frames to: a real domain or the hypervisor.
constexpr bool is_allocatable_owner(domid_t d) {
    return d < DOMID_FIRST_RESERVED || d == DOMID_XEN;
}

// FrameInfo::flags bits.
inline constexpr uint8_t FRAME_FREE_HEAD = 1u << 0;  // first frame of a free buddy block
inline constexpr uint8_t FRAME_ALLOC_HEAD = 1u << 1; // first frame of an allocated block
inline constexpr uint8_t FRAME_ORPHAN = 1u << 2;     // PageType::Memory frame no region holds:
                                                     // freed when its last mapping goes

// End-of-list marker for the 32-bit intrusive links.
inline constexpr uint32_t FRAME_NIL = UINT32_MAX;

struct FrameInfo {
    uint32_t next;       // intrusive list links (frame indices): buddy free
    uint32_t prev;       // lists now, a domain's page list later
    uint32_t ref_count;  // references keeping the frame alive
    uint32_t type_count; // validated uses of `type`
    domid_t owner;
    PageType type;
    uint8_t flags;       // FRAME_*_HEAD
    uint8_t order;       // block order; valid on a block head only
    uint8_t reserved0[3];
    uint64_t reserved1;  // room for the PV MMU (e.g. TLB-flush timestamp);
                         // scratch for the native memory audit meanwhile
};
static_assert(sizeof(FrameInfo) == 32, "FrameInfo must stay 32 bytes");
static_assert(sizeof(domid_t) == 2);

// Frames by owner class. free + hypervisor + io + domain == table size.
struct FrameCounts {
    uint64_t free = 0;
    uint64_t hypervisor = 0;
    uint64_t io = 0;
    uint64_t domain = 0; // all domains together; see FrameTable::count_owner
};

class FrameTable {
  public:
    constexpr FrameTable() = default;

    // Adopts `nr_frames` entries at `entries` (which cover MFN 0 upwards)
    // and marks every frame not-RAM (DOMID_IO, no type, counts zero).
    // The 32-bit links limit the table to FRAME_NIL - 1 frames (16 TiB).
    Status init(FrameInfo* entries, uint64_t nr_frames);

    // Marks every frame not-RAM again (used by the allocator's init).
    void reset();

    uint64_t size() const { return nr_frames_; }
    bool contains(Mfn m) const { return m.raw() < nr_frames_; }
    // True when [first, first+count) lies inside the table (no overflow).
    bool contains_range(Mfn first, uint64_t count) const {
        return first.raw() <= nr_frames_ && count <= nr_frames_ - first.raw();
    }

    // Bounds-checked access: Err::Range outside the table.
    Result<FrameInfo*> get(Mfn m) {
        if (!contains(m)) return Err::Range;
        return &entries_[m.raw()];
    }

    // Unchecked access for hot paths: the caller has already established
    // contains(m) (e.g. the MFN came out of this allocator).
    FrameInfo& operator[](Mfn m) { return entries_[m.raw()]; }
    const FrameInfo& operator[](Mfn m) const { return entries_[m.raw()]; }
    FrameInfo& at_index(uint64_t i) { return entries_[i]; }
    const FrameInfo& at_index(uint64_t i) const { return entries_[i]; }

    // The MFN of an entry of this table (no check).
    Mfn mfn_of(const FrameInfo* f) const { return Mfn(static_cast<uint64_t>(f - entries_)); }

    // Counts frames by owner class; Err::BadFormat if some frame carries an
    // owner value that may never appear (e.g. DOMID_SELF): corruption.
    Result<FrameCounts> census() const;

    // Frames owned by one domain id (O(table size)).
    uint64_t count_owner(domid_t owner) const;
    // The same over frames [first, first + count), clipped to the table: a
    // census taken in bounded steps.
    uint64_t count_owner_in(domid_t owner, uint64_t first, uint64_t count) const;

  private:
    FrameInfo* entries_ = nullptr;
    uint64_t nr_frames_ = 0;
};

} // namespace virtue
