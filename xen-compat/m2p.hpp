// The machine-to-physical table (M2P): for every machine frame, the
// pseudo-physical frame number (PFN) its PV guest gave it, or kInvalidM2p.
// PV guests read it directly at MACH2PHYS_VIRT_START (Linux converts every
// page-table entry it reads back through it), so it is mapped read-only
// into PV guests' address spaces (slot 256 of their L4s); native domains
// cannot read it. The hypervisor writes it through the direct map. Entries
// of frames that are not a PV guest's RAM (free, the hypervisor's, a
// native domain's, shared_info and grant frames) are kInvalidM2p, so that
// m2p[p2m[pfn]] == pfn holds only for a guest's own RAM.
#pragma once

#include <stdint.h>

#include "lib/addr.hpp"
#include "lib/result.hpp"

namespace virtue::xen {

// Every bit set: what Xen stores for a frame with no PFN.
inline constexpr uint64_t kInvalidM2p = ~uint64_t{0};

// Boot, once the frame table and the allocator exist: one entry per frame
// of the frame table, all invalid, mapped for PV guests.
Status m2p_init();

// Entries: m must be in the frame table (m2p_frames()).
void m2p_set(Mfn m, uint64_t pfn);
uint64_t m2p_get(Mfn m);
uint64_t m2p_frames();

// What a PV guest's L4 holds in slot 256 (the M2P readable from ring 3).
uint64_t m2p_l4e();

} // namespace virtue::xen
