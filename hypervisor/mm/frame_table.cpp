#include "mm/frame_table.hpp"

namespace virtue {

Status FrameTable::init(FrameInfo* entries, uint64_t nr_frames) {
    if (entries == nullptr || nr_frames == 0 || nr_frames >= FRAME_NIL)
        return Err::InvalidArgument;
    entries_ = entries;
    nr_frames_ = nr_frames;
    reset();
    return Status::success();
}

void FrameTable::reset() {
    for (uint64_t i = 0; i < nr_frames_; ++i) {
        FrameInfo& f = entries_[i];
        f = FrameInfo{};
        f.next = FRAME_NIL;
        f.prev = FRAME_NIL;
        f.owner = DOMID_IO;
        f.type = PageType::None;
    }
}

Result<FrameCounts> FrameTable::census() const {
    FrameCounts c;
    for (uint64_t i = 0; i < nr_frames_; ++i) {
        domid_t o = entries_[i].owner;
        if (o == DOMID_FREE)
            ++c.free;
        else if (o == DOMID_XEN)
            ++c.hypervisor;
        else if (o == DOMID_IO)
            ++c.io;
        else if (o < DOMID_FIRST_RESERVED)
            ++c.domain;
        else
            return Err::BadFormat;
    }
    return c;
}

uint64_t FrameTable::count_owner(domid_t owner) const { return count_owner_in(owner, 0, nr_frames_); }

uint64_t FrameTable::count_owner_in(domid_t owner, uint64_t first, uint64_t count) const {
    if (first >= nr_frames_) return 0;
    const uint64_t end = count < nr_frames_ - first ? first + count : nr_frames_;
    uint64_t n = 0;
    for (uint64_t i = first; i < end; ++i)
        n += entries_[i].owner == owner;
    return n;
}

} // namespace virtue
