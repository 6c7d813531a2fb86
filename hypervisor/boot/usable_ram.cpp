// Usable-RAM computation (rules in usable_ram.hpp).
#include "boot/usable_ram.hpp"

#include "boot/multiboot2_abi.hpp"
#include "lib/addr.hpp" // PAGE_SIZE

namespace virtue {
namespace {

// A region's end, clamped at the top of the address space.
uint64_t region_end(const MemoryRegion& r) {
    return r.length > UINT64_MAX - r.base ? UINT64_MAX : r.base + r.length;
}

Status compute(const MemoryRegion* map, size_t map_count, const Range* reserved,
               size_t reserved_count, UsableRam& out) {
    for (size_t i = 0; i < reserved_count; i++) {
        if (reserved[i].start > reserved[i].end) return Err::InvalidArgument;
    }

    // Add every available region first and remove the others afterwards, so
    // the outcome does not depend on the order of the map.
    for (size_t i = 0; i < map_count; i++) {
        if (map[i].type != mb2::MEMORY_AVAILABLE) continue;
        TRY(out.ranges.add(map[i].base, region_end(map[i])));
    }
    for (size_t i = 0; i < map_count; i++) {
        if (map[i].type == mb2::MEMORY_AVAILABLE) continue;
        TRY(out.ranges.remove(map[i].base, region_end(map[i])));
    }
    out.map_available_bytes = out.ranges.total();

    for (size_t i = 0; i < reserved_count; i++) {
        TRY(out.ranges.remove(reserved[i].start, reserved[i].end));
    }
    // Shrinking the remainder to whole pages also rounds every hole outward:
    // a page partly reserved is never usable.
    TRY(out.ranges.align_inward(PAGE_SIZE));
    out.usable_bytes = out.ranges.total();
    return Status::success();
}

} // namespace

Status compute_usable_ram(const MemoryRegion* map, size_t map_count, const Range* reserved,
                          size_t reserved_count, UsableRam& out) {
    out.ranges.clear();
    out.map_available_bytes = 0;
    out.usable_bytes = 0;
    if ((map == nullptr && map_count != 0) || (reserved == nullptr && reserved_count != 0)) {
        return Err::InvalidArgument;
    }
    Status st = compute(map, map_count, reserved, reserved_count, out);
    if (!st) {
        // Never leave a half-computed answer behind.
        out.ranges.clear();
        out.map_available_bytes = 0;
        out.usable_bytes = 0;
    }
    return st;
}

BootReserved boot_reserved_ranges(const BootInfo& info, Range image) {
    BootReserved r{};
    r.items[r.count++] = Range{0, LOW_MEMORY_END};
    r.items[r.count++] = image;
    r.items[r.count++] = Range{info.mbi_start.raw(), info.mbi_end.raw()};
    for (size_t i = 0; i < info.module_count && i < MB2_MAX_MODULES; i++) {
        r.items[r.count++] = Range{info.modules[i].start.raw(), info.modules[i].end.raw()};
    }
    return r;
}

} // namespace virtue
