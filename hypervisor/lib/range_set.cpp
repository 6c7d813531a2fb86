// Range-set algorithms. Invariant kept by every operation: items are sorted
// by start, each non-empty, and any two are separated by a gap (no overlap,
// no adjacency), so the representation of a set is unique.
#include "lib/range_set.hpp"

namespace virtue::range_ops {
namespace {

// Replaces items[first, first + replaced) with `n` new items.
// Callers guarantee count - replaced + n <= capacity.
void splice(RangeSpan s, size_t first, size_t replaced, const Range* pieces, size_t n) {
    size_t tail = s.count - first - replaced;
    Range* src = s.items + first + replaced;
    Range* dst = s.items + first + n;
    if (dst < src) {
        for (size_t k = 0; k < tail; k++) dst[k] = src[k];
    } else if (dst > src) {
        for (size_t k = tail; k > 0; k--) dst[k - 1] = src[k - 1];
    }
    for (size_t k = 0; k < n; k++) s.items[first + k] = pieces[k];
    s.count = s.count - replaced + n;
}

} // namespace

Status add(RangeSpan s, uint64_t start, uint64_t end) {
    if (start > end) return Err::InvalidArgument;
    if (start == end) return Status::success();

    // Items [i, j) touch or overlap the new range and merge with it.
    size_t i = 0;
    while (i < s.count && s.items[i].end < start) i++;
    size_t j = i;
    while (j < s.count && s.items[j].start <= end) j++;

    Range merged{start, end};
    if (j > i) {
        if (s.items[i].start < merged.start) merged.start = s.items[i].start;
        if (s.items[j - 1].end > merged.end) merged.end = s.items[j - 1].end;
    } else if (s.count >= s.capacity) {
        return Err::NoMemory;
    }
    splice(s, i, j - i, &merged, 1);
    return Status::success();
}

Status remove(RangeSpan s, uint64_t start, uint64_t end) {
    if (start > end) return Err::InvalidArgument;
    if (start == end) return Status::success();

    // Items [i, j) overlap [start, end).
    size_t i = 0;
    while (i < s.count && s.items[i].end <= start) i++;
    size_t j = i;
    while (j < s.count && s.items[j].start < end) j++;
    if (i == j) return Status::success();

    Range pieces[2];
    size_t n = 0;
    if (s.items[i].start < start) pieces[n++] = Range{s.items[i].start, start};
    if (s.items[j - 1].end > end) pieces[n++] = Range{end, s.items[j - 1].end};
    // Only punching a hole in a single range grows the set.
    if (n > j - i && s.count >= s.capacity) return Err::NoMemory;
    splice(s, i, j - i, pieces, n);
    return Status::success();
}

bool contains(const Range* items, size_t count, uint64_t addr) {
    for (size_t k = 0; k < count; k++) {
        if (addr < items[k].start) return false;
        if (addr < items[k].end) return true;
    }
    return false;
}

bool covers(const Range* items, size_t count, uint64_t start, uint64_t end) {
    if (start >= end) return start == end;
    for (size_t k = 0; k < count; k++) {
        if (items[k].start <= start && end <= items[k].end) return true;
    }
    return false;
}

bool intersects(const Range* items, size_t count, uint64_t start, uint64_t end) {
    for (size_t k = 0; k < count; k++) {
        if (items[k].start < end && start < items[k].end) return true;
    }
    return false;
}

uint64_t total(const Range* items, size_t count) {
    // Disjoint ranges inside [0, 2^64 - 1) cannot sum past UINT64_MAX.
    uint64_t sum = 0;
    for (size_t k = 0; k < count; k++) sum += items[k].size();
    return sum;
}

Status align_inward(RangeSpan s, uint64_t align) {
    if (align == 0 || (align & (align - 1)) != 0) return Err::InvalidArgument;
    uint64_t mask = align - 1;
    size_t out = 0;
    for (size_t k = 0; k < s.count; k++) {
        Range r = s.items[k];
        if (r.start > UINT64_MAX - mask) continue; // rounding up would wrap
        uint64_t lo = (r.start + mask) & ~mask;
        uint64_t hi = r.end & ~mask;
        // Shrinking keeps ranges sorted and separated; only empties drop out.
        if (lo < hi) s.items[out++] = Range{lo, hi};
    }
    s.count = out;
    return Status::success();
}

} // namespace virtue::range_ops
