// Usable RAM from the firmware memory map, as whole pages.
//
// Rules, in order:
//  1. Only regions of type "available" contribute.
//  2. Any byte also covered by a region of another type is not usable
//     (reserved wins: a malformed map with overlapping regions must never
//     make reserved memory usable).
//  3. The caller's reserved ranges (hypervisor image, MBI, modules, the
//     first MiB) are removed.
//  4. What remains is shrunk inward to whole pages, so a page that is even
//     partly reserved is never usable.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "boot/multiboot2.hpp"
#include "lib/range_set.hpp"
#include "lib/result.hpp"

namespace virtue {

// Each map region adds at most one range and each removal splits at most one,
// so the map alone needs MB2_MAX_MEMORY_REGIONS; the rest is for the boot
// reservations (first MiB, image, MBI, modules) with room to spare.
inline constexpr size_t USABLE_RAM_MAX_RANGES = MB2_MAX_MEMORY_REGIONS + 2 * MB2_MAX_MODULES;

struct UsableRam {
    RangeSet<USABLE_RAM_MAX_RANGES> ranges; // sorted, disjoint, page aligned
    uint64_t map_available_bytes;           // after rules 1-2 (byte exact)
    uint64_t usable_bytes;                  // after rules 1-4
};

// Fills `out` (several KiB: keep it in static storage); on error `out` is
// left empty. Err::NoMemory if the ranges do not fit, Err::InvalidArgument
// for an inverted reserved range or a null array with a non-zero count.
[[nodiscard]] Status compute_usable_ram(const MemoryRegion* map, size_t map_count,
                                        const Range* reserved, size_t reserved_count,
                                        UsableRam& out);

// What boot itself occupies: [0, 1 MiB), the hypervisor image, the MBI and
// every module.
struct BootReserved {
    Range items[MB2_MAX_MODULES + 3];
    size_t count;
};
BootReserved boot_reserved_ranges(const BootInfo& info, Range image);

inline constexpr uint64_t LOW_MEMORY_END = 0x100000;

} // namespace virtue
