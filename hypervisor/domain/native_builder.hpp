// Builds a native domain from its boot configuration: partition, ELF image,
// address space, stacks, boot-information FDT, threads.
//
// Virtual layout of a native domain (all in the lower canonical half):
//   ELF segments         where the image says (the SDK links at 0x400000)
//   boot information     kBootInfoVa, read-only
//   shared_info          kSharedInfoVa (VIRTUE_SHARED_INFO_VA), read-write:
//                        Xen's struct shared_info of the domain (event
//                        channels' pending and mask bits)
//   grant table          kGrantTableVa (VIRTUE_GRANT_TABLE_VA), read-write:
//                        its grant_entry_v1 frames, mapped as the table
//                        grows (up to 16 pages)
//   thread i's stack     [top_i - kStackSize, top_i), top_i = kStackTop -
//                        i * (kStackSize + 4 KiB); the page below each stack
//                        stays unmapped (guard)
// Page tables come from the partition, so a domain pays for its own
// mappings; the hypervisor spends only the Domain and Thread objects and
// one kernel stack per thread (Domain::overhead_bytes).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "boot/multiboot2.hpp"
#include "domain/boot_config.hpp"
#include "domain/domain.hpp"

namespace virtue {

inline constexpr uint64_t kBootInfoVa = 0x00007fff00000000ull;
inline constexpr uint64_t kSharedInfoVa = 0x00007ffe00000000ull;
inline constexpr uint64_t kGrantTableVa = 0x00007ffe00010000ull;
inline constexpr uint64_t kStackTop = 0x00007ffff0000000ull;
inline constexpr uint64_t kStackSize = 64 * 1024;

// Builds and starts the domain. On failure logs why (naming cfg.path) and
// leaves nothing behind.
Result<Domain*> build_native_domain(const BootDomain& cfg, const BootInfo& boot);

} // namespace virtue
