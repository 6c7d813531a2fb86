// Ring-3 support: the `syscall` entry, FPU/SSE state, switching kernel stacks
// between threads, and copying to and from domain memory with fault recovery.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/descriptors.hpp"
#include "lib/result.hpp"

namespace virtue::arch {

// Vector number recorded in the InterruptFrame of a `syscall` entry (above
// every hardware vector, so handlers can tell the two apart).
inline constexpr uint64_t SYSCALL_FRAME_VECTOR = 0x100;

// Lowest address that is not domain memory for a native domain: the lower
// canonical half [0, USER_LIMIT) belongs to the domain.
inline constexpr uint64_t USER_LIMIT = 0x0000800000000000ull;
// A Xen PV guest also owns the upper half above the hypervisor's range
// (0xffff800000000000-0xffff87ffffffffff, L4 slots 256-271).
inline constexpr uint64_t PV_GUEST_UPPER_START = 0xffff880000000000ull;

// Per CPU: EFER.SCE, STAR/LSTAR/FMASK for `syscall`; CR0/CR4 for SSE in
// ring 3 (the hypervisor itself never touches FPU registers).
// Also moves the GDT to its safe area, `gdt_area` (gdt_move_to_safe_area).
void user_entry_init_this_cpu(PhysAddr gdt_area);

// fxsave/fxrstor image of a thread's x87/SSE state (512 bytes, 16-aligned).
struct alignas(16) FpuState {
    uint8_t bytes[512];
};
void fpu_init_state(FpuState& s); // the power-on state (FCW 0x37f, MXCSR 0x1f80)
inline void fpu_save(FpuState& s) { asm volatile("fxsave64 %0" : "=m"(s)); }
inline void fpu_restore(const FpuState& s) { asm volatile("fxrstor64 %0" : : "m"(s)); }

// Points this CPU's entry paths (TSS.RSP0 and the syscall stack) at the
// kernel stack of the thread about to run.
void set_kernel_stack(uint64_t top);

} // namespace virtue::arch

extern "C" {
// Saves the callee-saved registers on the current stack, stores the stack
// pointer in *save_rsp, loads next_rsp and returns on that stack.
void switch_context(uint64_t* save_rsp, uint64_t next_rsp);
// First code of a new thread (its initial kernel stack "returns" here):
// runs sched_thread_first_run() then leaves to ring 3 through the
// InterruptFrame at the top of the stack.
void thread_first_entry();
// Copies len bytes; returns 0, or -1 if an access faulted (the #PF handler
// resumes at the recovery point). Callers check ranges first.
int copy_user_bytes(void* dst, const void* src, size_t len);
}

namespace virtue::arch {
// Called by the #PF handler for a hypervisor-mode fault: if rip is the user
// copy instruction, moves rip to its recovery point and returns true.
bool fixup_user_access(InterruptFrame& frame);
} // namespace virtue::arch
