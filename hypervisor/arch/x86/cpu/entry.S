/*
 * Interrupt and exception entry: one 16-byte stub per vector pushes a dummy
 * error code where the CPU pushes none, then the vector number, and joins
 * interrupt_common, which saves the GPRs as an InterruptFrame
 * (arch/descriptors.hpp) and calls handle_interrupt(frame). NMI, #DF and
 * #MC (the IST vectors) join paranoid_common instead.
 */
#include "arch/layout.h"

/* The general registers, in InterruptFrame order (rax pushed first). */
.macro push_gprs
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
.endm

.macro pop_gprs
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
.endm

    .section .text
    .balign 16
    .globl interrupt_stubs
interrupt_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    .if (vec == 2) || (vec == 8) || (vec == 18)
    jmp paranoid_common
    .else
    jmp interrupt_common
    .endif
    .set vec, vec + 1
    .endr

interrupt_common:
    /* CS of the interrupted context is at 24(%rsp): vector, error, rip, cs. */
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:  push_gprs
    cld
    mov %rsp, %rdi
    call handle_interrupt
    /* Leaves through the InterruptFrame at %rsp (also the exit of syscalls
       and of a new thread's first run). */
    .globl interrupt_return
interrupt_return:
    pop_gprs
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:  add $16, %rsp
    iretq

/*
 * NMI, #DF and #MC can arrive anywhere, including between a swapgs and the
 * iretq/sysret that follows it, where the saved CS does not tell which GS
 * is loaded. Decide by the GS base itself: the hypervisor's per-CPU data
 * lies in its own range, HV_RANGE_START..HV_RANGE_END (upper 32 bits
 * 0xffff8000..0xffff87ff), and no ring-3 GS base ever does (native domains
 * cannot set one; a PV guest kernel's, which lies in the upper half too,
 * is refused there when it sets it).
 */
paranoid_common:
    push_gprs
    cld
    xor %ebx, %ebx          /* rbx = 1 if we swapped (callee-saved) */
    mov $0xc0000101, %ecx   /* MSR_GS_BASE */
    rdmsr
    sub $(HV_RANGE_START >> 32), %edx
    cmp $((HV_RANGE_END - HV_RANGE_START) >> 32), %edx
    jb 1f                   /* already the hypervisor's */
    swapgs
    mov $1, %ebx
1:  mov %rsp, %rdi
    call handle_interrupt
    test %ebx, %ebx
    jz 2f
    swapgs
2:  pop_gprs
    add $16, %rsp
    iretq

/* void switch_stack_and_call(uint64_t stack_top, void (*fn)(void*), void* arg) — never returns. */
    .globl switch_stack_and_call
switch_stack_and_call:
    mov %rdi, %rsp
    xor %ebp, %ebp
    mov %rdx, %rdi
    call *%rsi
1:  cli
    hlt
    jmp 1b

/*
 * `syscall` from ring 3 (both hypercall families). RCX = user RIP, R11 =
 * user RFLAGS; FMASK has cleared IF. Builds the same InterruptFrame as an
 * interrupt from ring 3 (vector SYSCALL_FRAME_VECTOR) on the running
 * thread's kernel stack (%gs:16) and leaves with iretq through
 * interrupt_return, which restores every register from the frame.
 */

#define RING3_CS64 0xe033
#define RING3_DS 0xe02b
.macro syscall_frame handler
    swapgs
    mov %rsp, %gs:24
    mov %gs:16, %rsp
    pushq $RING3_DS
    pushq %gs:24
    movq $0, %gs:24         /* no user value lingers in hypervisor data */
    pushq %r11
    pushq $RING3_CS64
    pushq %rcx
    pushq $0
    pushq $0x100
    push_gprs
    cld
    mov %rsp, %rdi
    call \handler
    jmp interrupt_return
.endm

    .globl syscall_entry
syscall_entry:
    syscall_frame handle_syscall

/* `syscall` from compatibility mode (CSTAR): no 32-bit family exists yet;
   the handler ends the caller. */
    .globl syscall_compat_entry
syscall_compat_entry:
    syscall_frame handle_compat_syscall

/* void switch_context(uint64_t* save_rsp, uint64_t next_rsp) */
    .globl switch_context
switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

/* A new thread's first instructions: its stack holds an InterruptFrame. */
    .globl thread_first_entry
thread_first_entry:
    call sched_thread_first_run
    jmp interrupt_return

/*
 * int copy_user_bytes(void* dst, const void* src, size_t len)
 * The only instructions that touch domain memory are user_copy_insn (the
 * 8-byte words: TCG runs rep movsq about 8 times faster than the same
 * bytes by rep movsb) and user_copy_tail_insn (the last 0-7 bytes); a #PF
 * at either resumes at user_copy_recover (arch::fixup_user_access).
 */
    .globl copy_user_bytes
    .globl user_copy_insn
    .globl user_copy_tail_insn
    .globl user_copy_recover
copy_user_bytes:
    mov %rdx, %rcx
    shr $3, %rcx
user_copy_insn:
    rep movsq
    mov %rdx, %rcx
    and $7, %rcx
user_copy_tail_insn:
    rep movsb
    xor %eax, %eax
    ret
user_copy_recover:
    mov $-1, %eax
    ret
