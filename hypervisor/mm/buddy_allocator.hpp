// Binary buddy allocator of machine frames, over the frame table.
//
// Blocks of 2^order frames, order 0..MAX_ORDER (4 KiB .. 1 GiB), naturally
// aligned. Free blocks sit on one doubly linked list per order; the links
// and the block order live in FrameInfo (no extra memory). The first frame
// of a free block carries FRAME_FREE_HEAD, the first frame of an allocated
// block FRAME_ALLOC_HEAD plus its order, so free() can check that it is
// given exactly what alloc() returned.
//
// Every operation validates first and commits only if nothing is wrong: a
// refused call changes no state.
//
// Not thread-safe: the caller serialises (the hypervisor holds one spinlock
// around the allocator and its frame table).
#pragma once

#include <stdint.h>

#include "mm/frame_table.hpp"

namespace virtue {

class BuddyAllocator {
  public:
    static constexpr unsigned MAX_ORDER = 18; // 1 GiB blocks

    constexpr BuddyAllocator() = default;
    BuddyAllocator(const BuddyAllocator&) = delete;
    BuddyAllocator& operator=(const BuddyAllocator&) = delete;

    // Takes over `table` and marks every frame not-RAM (DOMID_IO): RAM
    // reaches the allocator only through add_free_range/assign_range.
    // Err::InvalidArgument if the table was never initialised.
    Status init(FrameTable& table);

    // Hands RAM to the allocator as free frames (split into maximal aligned
    // blocks, coalesced with free neighbours). count == 0 is a no-op.
    // Err::Range outside the table; Err::Overlap if any frame is already
    // RAM (free or allocated); Err::Busy if any frame still has counts.
    Status add_free_range(Mfn first, uint64_t count);

    // Records RAM that is already in use at boot (hypervisor image, boot
    // modules, early page tables) as owned by `owner`, each frame an order-0
    // allocation so that it can later be released with free(mfn, 0).
    // Same errors as add_free_range, plus Err::InvalidArgument for an owner
    // that is not allocatable.
    Status assign_range(Mfn first, uint64_t count, domid_t owner);

    // A naturally aligned block of 2^order frames, every frame owned by
    // `owner`, type None, counts zero. Contents are not cleared.
    // Err::InvalidArgument for order > MAX_ORDER or a non-allocatable owner
    // (free marker, DOMID_IO, DOMID_SELF...); Err::NoMemory if no block.
    Result<Mfn> alloc(unsigned order, domid_t owner);

    // As alloc, but the whole block lies below `limit` (e.g. 4 GiB for the
    // AP trampoline or 32-bit DMA). Scans the free lists: O(free blocks),
    // meant for rare boot-time use.
    Result<Mfn> alloc_below(unsigned order, Mfn limit, domid_t owner);

    // Returns a block obtained from alloc/alloc_below (or an assign_range
    // frame with order 0). Coalesces with free buddies.
    // Err::Range outside the table; Err::DoubleFree if the frame is free;
    // Err::InvalidArgument for order > MAX_ORDER, a misaligned mfn, a frame
    // that is not RAM, not the head of an allocated block, or an order other
    // than the allocated one; Err::Busy if any frame of the block still has
    // a non-zero ref_count or type_count.
    Status free(Mfn first, unsigned order);

    uint64_t free_frames() const { return free_frames_; }
    // RAM frames known to the allocator (free + allocated).
    uint64_t total_frames() const { return total_frames_; }
    // Free blocks of one order (0 for order > MAX_ORDER).
    uint64_t free_blocks(unsigned order) const {
        return order <= MAX_ORDER ? nr_blocks_[order] : 0;
    }

    // Full self-check, O(table size): every listed block is a free,
    // aligned head of the recorded order whose frames are all free; lists
    // are well linked and acyclic; no two free buddies of one order remain
    // uncoalesced; the free and total counters match the table.
    // Err::BadFormat on the first violation found.
    Status check_invariants() const;

  private:
    void list_push(unsigned order, uint64_t m);
    void list_remove(unsigned order, uint64_t m);
    Status check_new_ram(Mfn first, uint64_t count) const;
    void release_block(uint64_t m, unsigned order);
    Mfn take_block(uint64_t m, unsigned from_order, unsigned order, domid_t owner);
    Status check_list(unsigned order, uint64_t& blocks, uint64_t& frames) const;

    FrameTable* table_ = nullptr;
    uint32_t heads_[MAX_ORDER + 1] = {};
    uint64_t nr_blocks_[MAX_ORDER + 1] = {};
    uint64_t free_frames_ = 0;
    uint64_t total_frames_ = 0;
};

} // namespace virtue
