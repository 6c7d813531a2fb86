#include "mm/memory.hpp"

#include "arch/layout.h"
#include "arch/paging.hpp"
#include "boot/usable_ram.hpp"
#include "console/console.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"
#include "mm/buddy_allocator.hpp"
#include "mm/heap.hpp"
#include "mm/object_cache.hpp"

extern "C" char __image_virt_end[]; // linker script

namespace virtue {
namespace {

UsableRam g_usable;
RangeSet<MB2_MAX_MEMORY_REGIONS> g_direct_map_ram; // RAM-like regions, pages rounded outward
RangeSet<64> g_boot_allocated;                     // frames taken before the buddy allocator
FrameTable g_frame_table;
BuddyAllocator g_buddy;
SpinLock g_buddy_lock{LockRank::Buddy};

// Before the buddy allocator exists: take frames top-down from usable RAM
// below `limit` (the boot page tables reach only the first 4 GiB).
uint64_t g_boot_limit = 0x100000000ull;

Result<PhysAddr> boot_alloc_frame() {
    for (size_t i = g_usable.ranges.size(); i-- > 0;) {
        Range r = g_usable.ranges[i];
        uint64_t end = r.end < g_boot_limit ? r.end : g_boot_limit;
        if (end <= r.start || end - r.start < PAGE_SIZE) continue;
        uint64_t frame = end - PAGE_SIZE;
        TRY(g_usable.ranges.remove(frame, frame + PAGE_SIZE));
        TRY(g_boot_allocated.add(frame, frame + PAGE_SIZE));
        return PhysAddr(frame);
    }
    return Err::NoMemory;
}

Result<PhysAddr> buddy_alloc_frame() {
    TRY_ASSIGN(Mfn m, alloc_frames(0, DOMID_XEN));
    return to_phys(m);
}

struct BuddyPageSource final : PageSource {
    Result<void*> alloc_page() override {
        TRY_ASSIGN(Mfn m, alloc_frames(0, DOMID_XEN));
        return arch::phys_ptr<void>(to_phys(m));
    }
    void free_page(void* page) override {
        uint64_t pa = reinterpret_cast<uint64_t>(page) - DIRECTMAP_VIRT_START;
        if (Status s = free_frames(PhysAddr(pa).mfn(), 0); !s)
            log_error("heap: freeing page %p failed: %s", page, err_name(s.error()));
    }
};

BuddyPageSource g_page_source;
SizeClassHeap g_heap(g_page_source);
SpinLock g_heap_lock{LockRank::Heap};

bool is_ram_like(uint32_t type) {
    // available, ACPI reclaimable, ACPI NVS: normal memory for the direct map
    return type == 1 || type == 3 || type == 4;
}

Status build_direct_map_ranges(const BootInfo& info) {
    for (size_t i = 0; i < info.memory_map_count; i++) {
        const MemoryRegion& r = info.memory_map[i];
        if (!is_ram_like(r.type) || r.length == 0) continue;
        if (r.base > UINT64_MAX - r.length - PAGE_SIZE) continue; // absurd entry
        TRY(g_direct_map_ram.add(r.base & ~PAGE_MASK, (r.base + r.length + PAGE_MASK) & ~PAGE_MASK));
    }
    // Low memory (BIOS data, the AP trampoline page) is always mapped.
    return g_direct_map_ram.add(0, 0x100000);
}

Status setup_frame_table() {
    uint64_t max_addr = 0;
    for (const Range& r : g_direct_map_ram) max_addr = r.end > max_addr ? r.end : max_addr;
    uint64_t nr_frames = max_addr >> PAGE_SHIFT;
    uint64_t bytes = nr_frames * sizeof(FrameInfo);
    uint64_t pages = (bytes + PAGE_MASK) >> PAGE_SHIFT;
    if (bytes > FRAMETABLE_VIRT_END - FRAMETABLE_VIRT_START) return Err::Range;
    TRY(arch::map_new_pages(FRAMETABLE_VIRT_START, pages));
    return g_frame_table.init(reinterpret_cast<FrameInfo*>(FRAMETABLE_VIRT_START), nr_frames);
}

// Frames of available RAM that are not free: the hypervisor's own.
Status hand_ram_to_allocator(const BootInfo& info) {
    TRY(g_buddy.init(g_frame_table));
    // Whole pages of available RAM (reserved wins on overlap), before reservations.
    UsableRam all;
    TRY(compute_usable_ram(info.memory_map, info.memory_map_count, nullptr, 0, all));
    for (const Range& r : all.ranges) {
        // Walk r, alternating between parts that are free and parts that are not.
        uint64_t pos = r.start;
        for (const Range& f : g_usable.ranges) {
            if (f.end <= pos || f.start >= r.end) continue;
            if (f.start > pos)
                TRY(g_buddy.assign_range(PhysAddr(pos).mfn(), (f.start - pos) >> PAGE_SHIFT, DOMID_XEN));
            uint64_t free_end = f.end < r.end ? f.end : r.end;
            uint64_t free_start = f.start > pos ? f.start : pos;
            TRY(g_buddy.add_free_range(PhysAddr(free_start).mfn(), (free_end - free_start) >> PAGE_SHIFT));
            pos = free_end;
        }
        if (pos < r.end) TRY(g_buddy.assign_range(PhysAddr(pos).mfn(), (r.end - pos) >> PAGE_SHIFT, DOMID_XEN));
    }
    return Status::success();
}

} // namespace

Status memory_init(const BootInfo& info) {
    if (!info.has_memory_map || info.memory_map_count == 0) return Err::NotFound;
    // Physical extent of the image (boot section included); the linker's
    // physical symbols are out of RIP-relative reach, so derive it.
    Range image{IMAGE_PHYS_START, reinterpret_cast<uint64_t>(__image_virt_end) - IMAGE_VIRT_START + IMAGE_PHYS_START};
    BootReserved reserved = boot_reserved_ranges(info, image);
    TRY(compute_usable_ram(info.memory_map, info.memory_map_count, reserved.items, reserved.count, g_usable));
    TRY(build_direct_map_ranges(info));

    arch::paging_set_frame_source(&boot_alloc_frame);
    Range dm[MB2_MAX_MEMORY_REGIONS];
    size_t n = 0;
    for (const Range& r : g_direct_map_ram) dm[n++] = r;
    TRY(arch::paging_init(dm, n));
    g_boot_limit = UINT64_MAX; // the new direct map covers all RAM

    TRY(setup_frame_table());
    TRY(hand_ram_to_allocator(info));
    arch::paging_set_frame_source(&buddy_alloc_frame);
    if (Status s = g_buddy.check_invariants(); !s) {
        log_error("frame allocator inconsistent after boot: %s", err_name(s.error()));
        return s;
    }
    return Status::success();
}

Result<Mfn> alloc_frames(unsigned order, domid_t owner) {
    IrqLockGuard guard(g_buddy_lock);
    return g_buddy.alloc(order, owner);
}

Status free_frames(Mfn first, unsigned order) {
    IrqLockGuard guard(g_buddy_lock);
    return g_buddy.free(first, order);
}

FrameInfo& frame_info(Mfn m) { return g_frame_table[m]; }
bool frame_in_table(Mfn m) { return g_frame_table.contains(m); }
uint64_t frame_table_size() { return g_frame_table.size(); }

uint64_t frames_owned_by(domid_t owner) {
    IrqLockGuard guard(g_buddy_lock);
    return g_frame_table.count_owner(owner);
}

uint64_t frames_owned_in(domid_t owner, uint64_t first, uint64_t count) {
    IrqLockGuard guard(g_buddy_lock);
    return g_frame_table.count_owner_in(owner, first, count);
}

Result<void*> heap_alloc(size_t size) {
    IrqLockGuard guard(g_heap_lock);
    return g_heap.alloc(size);
}

size_t heap_footprint(size_t size) {
    size_t cls = SizeClassHeap::MIN_SIZE;
    while (cls < size) cls <<= 1;
    return cls;
}

Status heap_free(void* p) {
    IrqLockGuard guard(g_heap_lock);
    return g_heap.free(p);
}

uint64_t memory_free_frames() {
    IrqLockGuard guard(g_buddy_lock);
    return g_buddy.free_frames();
}

MemoryStats memory_stats() {
    MemoryStats s{};
    s.ram_in_map_bytes = g_usable.map_available_bytes;
    s.usable_bytes = g_usable.usable_bytes;
    IrqLockGuard guard(g_buddy_lock);
    s.total_frames = g_buddy.total_frames();
    s.free_frames = g_buddy.free_frames();
    auto census = g_frame_table.census();
    if (census) s.census = *census;
    return s;
}

void memory_report() {
    MemoryStats s = memory_stats();
    log_info("memory: %lu KiB RAM in the memory map, %lu KiB usable after boot reservations",
             s.ram_in_map_bytes >> 10, s.usable_bytes >> 10);
    log_info("frames: %lu RAM, %lu free, %lu hypervisor, %lu domain, %lu not RAM (frame table %lu KiB)",
             s.total_frames, s.census.free, s.census.hypervisor, s.census.domain, s.census.io,
             (g_frame_table.size() * sizeof(FrameInfo)) >> 10);
}

} // namespace virtue
