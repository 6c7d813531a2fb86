// Host stand-in for arch/paging.hpp: the direct map is the identity.
//
// On the hypervisor every RAM frame appears at DIRECTMAP_VIRT_START +
// its physical address. The host tests' "frames" are page-aligned blocks of
// host memory (tests/unit/fakes/host_kernel.cpp) whose frame number is their
// host address divided by the page size, so a physical address is the host
// address itself.
#pragma once

#include <stdint.h>

#include "arch/layout.h"
#include "lib/addr.hpp"

namespace virtue::arch {

inline VirtAddr phys_to_virt(PhysAddr pa) { return VirtAddr(pa.raw()); }
template <typename T>
inline T* phys_ptr(PhysAddr pa) { return phys_to_virt(pa).as<T>(); }

} // namespace virtue::arch
