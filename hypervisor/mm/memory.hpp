// Machine memory at run time: the frame table, the frame allocator and the
// hypervisor heap, set up once from the multiboot2 memory map.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>

#include "boot/multiboot2.hpp"
#include "lib/addr.hpp"
#include "lib/result.hpp"
#include "mm/frame_table.hpp"

namespace virtue {

Status memory_init(const BootInfo& info);
void memory_report();

// Frames from the buddy allocator (thread-safe; contents not cleared).
Result<Mfn> alloc_frames(unsigned order, domid_t owner);
Status free_frames(Mfn first, unsigned order);

// A frame's entry. Owners other than the free pool serialise access to the
// entries of the frames they own (a domain under its own lock); the
// allocator touches only free frames and block heads under its lock.
FrameInfo& frame_info(Mfn m);
bool frame_in_table(Mfn m); // frame_info(m) may be called
uint64_t frame_table_size(); // frames it covers: MFN 0 up to the end of the highest RAM
// Frames owned by one domain (O(RAM); for reports and tests).
uint64_t frames_owned_by(domid_t owner);
uint64_t frames_owned_in(domid_t owner, uint64_t first, uint64_t count); // MFNs [first, first + count)

// Kernel objects (thread-safe).
Result<void*> heap_alloc(size_t size);
Status heap_free(void* p);
// Bytes heap_alloc(size) really takes (its size class), for accounting.
size_t heap_footprint(size_t size);

struct MemoryStats {
    uint64_t ram_in_map_bytes;  // available RAM the firmware reported
    uint64_t usable_bytes;      // minus image, modules, MBI, first MiB
    uint64_t total_frames;      // RAM frames known to the allocator
    uint64_t free_frames;
    FrameCounts census;
};
MemoryStats memory_stats(); // walks the whole frame table (the census): for reports
uint64_t memory_free_frames(); // the free count alone, cheap

} // namespace virtue
