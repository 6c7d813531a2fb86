#include "mm/buddy_allocator.hpp"

namespace virtue {

namespace {

constexpr uint64_t block_frames(unsigned order) { return uint64_t{1} << order; }

} // namespace

Status BuddyAllocator::init(FrameTable& table) {
    if (table.size() == 0) return Err::InvalidArgument;
    table_ = &table;
    table.reset();
    for (unsigned o = 0; o <= MAX_ORDER; ++o) {
        heads_[o] = FRAME_NIL;
        nr_blocks_[o] = 0;
    }
    free_frames_ = 0;
    total_frames_ = 0;
    return Status::success();
}

void BuddyAllocator::list_push(unsigned order, uint64_t m) {
    FrameInfo& f = table_->at_index(m);
    f.prev = FRAME_NIL;
    f.next = heads_[order];
    if (heads_[order] != FRAME_NIL) table_->at_index(heads_[order]).prev = static_cast<uint32_t>(m);
    heads_[order] = static_cast<uint32_t>(m);
    f.flags = FRAME_FREE_HEAD;
    f.order = static_cast<uint8_t>(order);
    ++nr_blocks_[order];
}

void BuddyAllocator::list_remove(unsigned order, uint64_t m) {
    FrameInfo& f = table_->at_index(m);
    if (f.prev != FRAME_NIL)
        table_->at_index(f.prev).next = f.next;
    else
        heads_[order] = f.next;
    if (f.next != FRAME_NIL) table_->at_index(f.next).prev = f.prev;
    f.next = f.prev = FRAME_NIL;
    f.flags = 0;
    f.order = 0;
    --nr_blocks_[order];
}

// The frames are already marked free; link the block in, merging upwards.
void BuddyAllocator::release_block(uint64_t m, unsigned order) {
    while (order < MAX_ORDER) {
        uint64_t buddy = m ^ block_frames(order);
        if (buddy >= table_->size()) break;
        const FrameInfo& b = table_->at_index(buddy);
        if (!(b.flags & FRAME_FREE_HEAD) || b.order != order) break;
        list_remove(order, buddy);
        m &= ~block_frames(order);
        ++order;
    }
    list_push(order, m);
}

// Unlinks free block m of from_order, puts the unused upper halves back and
// hands out the lowest 2^order frames.
Mfn BuddyAllocator::take_block(uint64_t m, unsigned from_order, unsigned order, domid_t owner) {
    list_remove(from_order, m);
    while (from_order > order) {
        --from_order;
        list_push(from_order, m + block_frames(from_order));
    }
    for (uint64_t i = 0; i < block_frames(order); ++i) {
        FrameInfo& f = table_->at_index(m + i);
        f.owner = owner;
        f.type = PageType::None;
        f.flags = 0;
    }
    FrameInfo& head = table_->at_index(m);
    head.flags = FRAME_ALLOC_HEAD;
    head.order = static_cast<uint8_t>(order);
    free_frames_ -= block_frames(order);
    return Mfn(m);
}

Status BuddyAllocator::check_new_ram(Mfn first, uint64_t count) const {
    if (table_ == nullptr) return Err::InvalidArgument;
    if (!table_->contains_range(first, count)) return Err::Range;
    for (uint64_t i = 0; i < count; ++i) {
        const FrameInfo& f = table_->at_index(first.raw() + i);
        if (f.owner != DOMID_IO) return Err::Overlap;
        if (f.ref_count != 0 || f.type_count != 0) return Err::Busy;
    }
    return Status::success();
}

Status BuddyAllocator::add_free_range(Mfn first, uint64_t count) {
    TRY(check_new_ram(first, count));
    uint64_t m = first.raw();
    const uint64_t end = m + count;
    for (uint64_t i = m; i < end; ++i) {
        FrameInfo& f = table_->at_index(i);
        f.owner = DOMID_FREE;
        f.type = PageType::None;
        f.flags = 0;
    }
    while (m < end) {
        unsigned order = m == 0 ? MAX_ORDER : static_cast<unsigned>(__builtin_ctzll(m));
        if (order > MAX_ORDER) order = MAX_ORDER;
        while (block_frames(order) > end - m) --order;
        release_block(m, order);
        m += block_frames(order);
    }
    free_frames_ += count;
    total_frames_ += count;
    return Status::success();
}

Status BuddyAllocator::assign_range(Mfn first, uint64_t count, domid_t owner) {
    if (!is_allocatable_owner(owner)) return Err::InvalidArgument;
    TRY(check_new_ram(first, count));
    for (uint64_t i = 0; i < count; ++i) {
        FrameInfo& f = table_->at_index(first.raw() + i);
        f.owner = owner;
        f.type = PageType::None;
        f.flags = FRAME_ALLOC_HEAD;
        f.order = 0;
    }
    total_frames_ += count;
    return Status::success();
}

Result<Mfn> BuddyAllocator::alloc(unsigned order, domid_t owner) {
    if (table_ == nullptr || order > MAX_ORDER || !is_allocatable_owner(owner))
        return Err::InvalidArgument;
    for (unsigned o = order; o <= MAX_ORDER; ++o)
        if (heads_[o] != FRAME_NIL) return take_block(heads_[o], o, order, owner);
    return Err::NoMemory;
}

Result<Mfn> BuddyAllocator::alloc_below(unsigned order, Mfn limit, domid_t owner) {
    if (table_ == nullptr || order > MAX_ORDER || !is_allocatable_owner(owner))
        return Err::InvalidArgument;
    // The lowest 2^order frames of a block are handed out, so a block fits
    // when its start plus the request stays below the limit.
    for (unsigned o = order; o <= MAX_ORDER; ++o) {
        for (uint32_t m = heads_[o]; m != FRAME_NIL; m = table_->at_index(m).next) {
            if (m + block_frames(order) <= limit.raw()) return take_block(m, o, order, owner);
        }
    }
    return Err::NoMemory;
}

Status BuddyAllocator::free(Mfn first, unsigned order) {
    if (table_ == nullptr || order > MAX_ORDER) return Err::InvalidArgument;
    if (!table_->contains_range(first, block_frames(order))) return Err::Range;
    const uint64_t m = first.raw();
    if (m & (block_frames(order) - 1)) return Err::InvalidArgument;
    const FrameInfo& head = table_->at_index(m);
    if (head.owner == DOMID_FREE) return Err::DoubleFree;
    if (head.owner == DOMID_IO) return Err::InvalidArgument;
    if (!(head.flags & FRAME_ALLOC_HEAD) || head.order != order) return Err::InvalidArgument;
    for (uint64_t i = 0; i < block_frames(order); ++i) {
        const FrameInfo& f = table_->at_index(m + i);
        if (f.ref_count != 0 || f.type_count != 0) return Err::Busy;
    }

    for (uint64_t i = 0; i < block_frames(order); ++i) {
        FrameInfo& f = table_->at_index(m + i);
        f.owner = DOMID_FREE;
        f.type = PageType::None;
        f.flags = 0;
        f.order = 0;
    }
    free_frames_ += block_frames(order);
    release_block(m, order);
    return Status::success();
}

// Walks one free list, checking every block; adds to the totals.
Status BuddyAllocator::check_list(unsigned order, uint64_t& blocks, uint64_t& frames) const {
    const uint64_t n = table_->size();
    uint32_t prev = FRAME_NIL;
    uint64_t count = 0;
    for (uint32_t m = heads_[order]; m != FRAME_NIL; prev = m, m = table_->at_index(m).next) {
        if (m >= n || ++count > n) return Err::BadFormat; // wild link or cycle
        const FrameInfo& f = table_->at_index(m);
        if (f.prev != prev || !(f.flags & FRAME_FREE_HEAD) || (f.flags & FRAME_ALLOC_HEAD) ||
            f.order != order)
            return Err::BadFormat;
        if ((m & (block_frames(order) - 1)) != 0 || block_frames(order) > n - m) return Err::BadFormat;
        for (uint64_t i = 0; i < block_frames(order); ++i) {
            const FrameInfo& g = table_->at_index(m + i);
            if (g.owner != DOMID_FREE || g.ref_count != 0 || g.type_count != 0) return Err::BadFormat;
            if (i != 0 && g.flags != 0) return Err::BadFormat; // nested head
        }
        if (order < MAX_ORDER) {
            uint64_t buddy = m ^ block_frames(order);
            if (buddy < n) {
                const FrameInfo& b = table_->at_index(buddy);
                if ((b.flags & FRAME_FREE_HEAD) && b.order == order) return Err::BadFormat;
            }
        }
    }
    if (count != nr_blocks_[order]) return Err::BadFormat;
    blocks += count;
    frames += count << order;
    return Status::success();
}

Status BuddyAllocator::check_invariants() const {
    if (table_ == nullptr) return Err::InvalidArgument;
    uint64_t blocks = 0, frames = 0;
    for (unsigned o = 0; o <= MAX_ORDER; ++o) TRY(check_list(o, blocks, frames));

    // Every free frame lies in exactly one listed block, every head is listed.
    uint64_t free_owned = 0, ram = 0, heads = 0;
    for (uint64_t i = 0; i < table_->size(); ++i) {
        const FrameInfo& f = table_->at_index(i);
        free_owned += f.owner == DOMID_FREE;
        ram += f.owner != DOMID_IO;
        heads += (f.flags & FRAME_FREE_HEAD) != 0;
        if ((f.flags & FRAME_ALLOC_HEAD) && !is_allocatable_owner(f.owner)) return Err::BadFormat;
    }
    if (frames != free_frames_ || free_owned != free_frames_ || heads != blocks || ram != total_frames_)
        return Err::BadFormat;
    return Status::success();
}

} // namespace virtue
