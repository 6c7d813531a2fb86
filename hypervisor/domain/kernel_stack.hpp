// Kernel stacks of threads: THREAD_STACK_PAGES mapped pages below an
// unmapped guard page each, in the stacks slot (arch/layout.h), so that an
// overflow faults (#PF, then #DF on its IST stack) instead of corrupting
// memory. A freed stack keeps its mapping and goes to a pool for the next
// thread: nothing is ever unmapped, so no CPU can hold a stale translation.
#pragma once

#include <stdint.h>

#include "arch/layout.h"
#include "lib/result.hpp"

namespace virtue {

inline constexpr uint32_t kMaxKernelStacks = 16384;

struct KernelStack {
    uint64_t top = 0;  // initial stack pointer (16-byte aligned)
    uint32_t slot = 0;
};

// Err::NoMemory when no frames are left or every slot is in use.
Result<KernelStack> kernel_stack_alloc();
void kernel_stack_free(const KernelStack& s);

// Bytes of hypervisor memory one stack takes.
inline constexpr uint64_t kKernelStackBytes = uint64_t{THREAD_STACK_PAGES} * 4096;

} // namespace virtue
