// The hypervisor's own page tables: direct map, image, stacks, MMIO window.
//
// One set of tables for slots 256-271 (the Xen-reserved range) is built at
// boot; later every domain's root table shares these slots.
#pragma once

#include "arch/cpu.hpp"

#include <stdint.h>

#include "arch/layout.h"
#include "lib/addr.hpp"
#include "lib/range_set.hpp"
#include "lib/result.hpp"

namespace virtue::arch {

// Where a physical address appears in the direct map (every RAM frame does).
inline VirtAddr phys_to_virt(PhysAddr pa) { return VirtAddr(DIRECTMAP_VIRT_START + pa.raw()); }
template <typename T>
inline T* phys_ptr(PhysAddr pa) { return phys_to_virt(pa).as<T>(); }

// Source of zeroed 4 KiB frames for page tables and stacks. Early in boot the
// boot allocator; after memory_init the buddy allocator.
using FrameSource = Result<PhysAddr> (*)();
void paging_set_frame_source(FrameSource source);

struct CpuPagingFeatures {
    bool nx;       // EFER.NXE enabled by the boot code
    bool pages_1g; // 1 GiB pages
    bool smep;
};
CpuPagingFeatures paging_features();

// Builds the hypervisor's page tables: the direct map of `ram` (page-aligned
// ranges), the image with W^X permissions, and a temporary identity map of
// the first 2 MiB for the AP trampoline; then switches CR3 to them.
Status paging_init(const Range* ram, size_t ram_count);

// Maps `pages` new zeroed frames at `va` (RW, NX): stacks, the frame table.
Status map_new_pages(uint64_t va, uint64_t pages);

// Maps [pa, pa + size) at `va` in the hypervisor's range for guests to
// read: read-only, no execute, user-accessible below the root and never
// global (whether ring 3 may read it differs between address spaces). The
// slot's entry in the hypervisor's own root stays supervisor-only, so
// address spaces that copy the hypervisor's slots (native domains) cannot
// read it; an address space that may (a PV guest's) uses
// guest_readable_l4e for that slot instead.
Status map_guest_readable(uint64_t va, PhysAddr pa, uint64_t size);
uint64_t guest_readable_l4e(unsigned slot);

// Drops the identity map once all CPUs are up (flushes the local TLB; the
// caller makes sure the other CPUs flush too).
void paging_drop_identity_map();

PhysAddr kernel_root();
// Makes `root` (a PML4) this CPU's page tables: a CR3 load, which also
// flushes the CPU's non-global TLB entries.
inline void load_root(PhysAddr root) { write_cr3(root.raw()); }
bool direct_map_covers(PhysAddr pa, uint64_t size);

} // namespace virtue::arch
