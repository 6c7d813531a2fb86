// A fixed-capacity sorted set of half-open [start, end) uint64 ranges.
//
// Used for physical memory bookkeeping at boot (usable RAM = available minus
// reserved). Ranges are kept sorted, disjoint and non-adjacent: add() merges,
// remove() splits. Running out of slots is an error (Err::NoMemory), never
// silent data loss, and a failed call leaves the set unchanged.
//
// The algorithms live once in range_set.cpp over a RangeSpan (storage +
// count + capacity); RangeSet<N> is a thin value type that owns the storage.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"

namespace virtue {

struct Range {
    uint64_t start; // inclusive
    uint64_t end;   // exclusive; start < end for every stored range
    uint64_t size() const { return end - start; }
    friend bool operator==(const Range& a, const Range& b) {
        return a.start == b.start && a.end == b.end;
    }
};

// Non-owning view of a range array; the algorithms operate on this.
struct RangeSpan {
    Range* items;
    size_t& count;
    size_t capacity;
};

namespace range_ops {
// start == end is an empty range: a successful no-op. start > end is
// Err::InvalidArgument.
[[nodiscard]] Status add(RangeSpan s, uint64_t start, uint64_t end);
[[nodiscard]] Status remove(RangeSpan s, uint64_t start, uint64_t end);
bool contains(const Range* items, size_t count, uint64_t addr);
// True if [start, end) lies entirely inside one stored range.
bool covers(const Range* items, size_t count, uint64_t start, uint64_t end);
bool intersects(const Range* items, size_t count, uint64_t start, uint64_t end);
uint64_t total(const Range* items, size_t count);
// Shrinks every range to whole `align` units (start rounded up, end rounded
// down) and drops ranges that vanish. `align` must be a power of two.
[[nodiscard]] Status align_inward(RangeSpan s, uint64_t align);
} // namespace range_ops

template <size_t Capacity>
class RangeSet {
    static_assert(Capacity > 0);

  public:
    [[nodiscard]] Status add(uint64_t start, uint64_t end) {
        return range_ops::add(span(), start, end);
    }
    [[nodiscard]] Status add(const Range& r) { return add(r.start, r.end); }
    [[nodiscard]] Status remove(uint64_t start, uint64_t end) {
        return range_ops::remove(span(), start, end);
    }
    [[nodiscard]] Status remove(const Range& r) { return remove(r.start, r.end); }
    [[nodiscard]] Status align_inward(uint64_t align) {
        return range_ops::align_inward(span(), align);
    }
    bool contains(uint64_t addr) const { return range_ops::contains(items_, count_, addr); }
    bool covers(uint64_t start, uint64_t end) const {
        return range_ops::covers(items_, count_, start, end);
    }
    bool intersects(uint64_t start, uint64_t end) const {
        return range_ops::intersects(items_, count_, start, end);
    }
    uint64_t total() const { return range_ops::total(items_, count_); }
    void clear() { count_ = 0; }

    size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    static constexpr size_t capacity() { return Capacity; }
    const Range& operator[](size_t i) const { return items_[i]; }
    const Range* begin() const { return items_; }
    const Range* end() const { return items_ + count_; }

  private:
    RangeSpan span() { return RangeSpan{items_, count_, Capacity}; }
    Range items_[Capacity] = {};
    size_t count_ = 0;
};

} // namespace virtue
