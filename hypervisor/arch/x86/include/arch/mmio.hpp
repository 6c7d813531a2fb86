// Mapping device registers and firmware tables into the hypervisor.
#pragma once

#include <stddef.h>

#include "lib/addr.hpp"
#include "lib/result.hpp"

namespace virtue::arch {

// Uncached mapping of device registers in the IOREMAP window (never freed:
// boot-time devices only). Page-granular; the result keeps the page offset.
Result<VirtAddr> ioremap(PhysAddr pa, size_t size);

// Read-only, cacheable view of [pa, pa+size) for firmware tables: the direct
// map when it covers the range, else a new mapping in the IOREMAP window.
Result<VirtAddr> map_firmware(PhysAddr pa, size_t size);

} // namespace virtue::arch
