// Pool of guarded kernel stacks for threads (see kernel_stack.hpp).
#include "domain/kernel_stack.hpp"

#include "arch/layout.h"
#include "arch/paging.hpp"
#include "lib/spinlock.hpp"

namespace virtue {
namespace {

static_assert(THREAD_STACKS_VIRT_START + uint64_t{kMaxKernelStacks} * THREAD_STACK_STRIDE <= STACKS_VIRT_END);
static_assert(THREAD_STACK_PAGES * 4096 < THREAD_STACK_STRIDE, "a guard page must stay below each stack");

SpinLock g_lock{LockRank::KernelStacks};
uint32_t g_pool[kMaxKernelStacks]; // freed slots, still mapped
uint32_t g_pool_count;
uint32_t g_slots_used; // slots ever mapped: [0, g_slots_used)

uint64_t slot_top(uint32_t slot) { return THREAD_STACKS_VIRT_START + (uint64_t{slot} + 1) * THREAD_STACK_STRIDE; }

} // namespace

Result<KernelStack> kernel_stack_alloc() {
    uint32_t slot;
    {
        IrqLockGuard guard(g_lock);
        if (g_pool_count) return KernelStack{slot_top(g_pool[--g_pool_count]), g_pool[g_pool_count]};
        if (g_slots_used == kMaxKernelStacks) return Err::NoMemory;
        slot = g_slots_used++;
    }
    // A new slot: map its pages (the guard below them stays unmapped). Slots
    // are never handed out twice, so this needs no lock of ours.
    uint64_t top = slot_top(slot);
    if (Status s = arch::map_new_pages(top - kKernelStackBytes, THREAD_STACK_PAGES); !s) return s.error();
    return KernelStack{top, slot};
}

void kernel_stack_free(const KernelStack& s) {
    IrqLockGuard guard(g_lock);
    g_pool[g_pool_count++] = s.slot;
}

} // namespace virtue
