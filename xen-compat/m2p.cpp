// The machine-to-physical table (m2p.hpp).
#include "m2p.hpp"

#include <xen/xen.h>

#include "arch/layout.h"
#include "arch/paging.hpp"
#include "console/console.hpp"
#include "mm/memory.hpp"

namespace virtue::xen {
namespace {

uint64_t* g_m2p = nullptr; // through the direct map: the hypervisor's writable view
uint64_t g_frames = 0;

static_assert(M2P_VIRT_START == MACH2PHYS_VIRT_START, "the M2P must be where Xen's ABI puts it");
static_assert(M2P_VIRT_END == MACH2PHYS_VIRT_END);

} // namespace

Status m2p_init() {
    const uint64_t frames = frame_table_size();
    const uint64_t bytes = frames * sizeof(uint64_t);
    if (bytes > M2P_VIRT_END - M2P_VIRT_START) return Err::Range;
    unsigned order = 0;
    while ((PAGE_SIZE << order) < bytes) order++;
    auto first = alloc_frames(order, DOMID_XEN);
    if (!first) return first.error();
    const PhysAddr pa = to_phys(*first);
    g_m2p = arch::phys_ptr<uint64_t>(pa);
    for (uint64_t i = 0; i < (PAGE_SIZE << order) / sizeof(uint64_t); i++) g_m2p[i] = kInvalidM2p;
    TRY(arch::map_guest_readable(M2P_VIRT_START, pa, PAGE_SIZE << order));
    g_frames = frames;
    log_info("M2P: %lu entries (%lu KiB) at 0x%lx, read-only for PV guests", frames, (PAGE_SIZE << order) / 1024,
             static_cast<uint64_t>(M2P_VIRT_START));
    return Status::success();
}

void m2p_set(Mfn m, uint64_t pfn) { __atomic_store_n(&g_m2p[m.raw()], pfn, __ATOMIC_RELAXED); }
uint64_t m2p_get(Mfn m) { return __atomic_load_n(&g_m2p[m.raw()], __ATOMIC_RELAXED); }
uint64_t m2p_frames() { return g_frames; }
uint64_t m2p_l4e() { return arch::guest_readable_l4e(256); }

} // namespace virtue::xen
