/*
 * Guest user mode (user_checks.cpp): entering it with HYPERVISOR_iret, the
 * guest kernel's syscall entry, and the user program.
 *
 * pv_enter_user(frame): saves the kernel's callee-saved registers and stack
 * pointer, then HYPERVISOR_iret with the 9-word iret_context at `frame`
 * (rax, r11, rcx, flags, rip, cs, rflags, rsp, ss). It returns when the
 * user program's "done" system call (rsi == 2) reaches pv_syscall_entry.
 *
 * pv_syscall_entry: Xen's 64-bit syscall frame on the kernel stack that
 * stack_switch named, lowest address first: rcx, r11, rip, cs, rflags, rsp,
 * ss (rip/rflags: the user's, as SYSCALL saved them in rcx/r11). It records
 * rdi, rsi and the frame's rip and cs, then either goes back to the kernel
 * (rsi == 2) or returns to user mode with rax = rdi + 1 through
 * HYPERVISOR_iret with VGCF_in_syscall (as SYSRET would).
 */
#define __ASSEMBLY__ 1 /* the headers hide their C parts */
#include <xen/xen.h>
#include "bench.hpp"
#include "iret.h"

    .section .text, "ax", @progbits

    .globl pv_enter_user
pv_enter_user:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, pv_kernel_rsp(%rip)
    mov %rdi, %rsp
    mov $__HYPERVISOR_iret, %eax
    syscall
    ud2

    .globl pv_syscall_entry
pv_syscall_entry:
    mov %rdi, pv_sys_rdi(%rip)
    mov %rsi, pv_sys_rsi(%rip)
    mov 16(%rsp), %rax
    mov %rax, pv_sys_rip(%rip)
    mov 24(%rsp), %rax
    mov %rax, pv_sys_cs(%rip)
    incl pv_sys_count(%rip)
    cmp $2, %rsi
    je 1f
    pop %rcx
    pop %r11
    lea 1(%rdi), %rax
    hypervisor_iret $VGCF_in_syscall
1:  mov pv_kernel_rsp(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

/* The user program, copied into a user page (position-independent):
 * syscall(42) -> 43, then ud2 (bounced to the kernel, which resumes after
 * it), then the "done" system call. In the same page, the bench's user
 * program (bench.cpp): PV_USER_BENCH_CALLS system calls, then "done". */
    .section .rodata, "a", @progbits
    .globl pv_user_program, pv_user_program_end, pv_user_syscall_ret, pv_user_ud2, pv_user_bench
pv_user_program:
    mov $42, %edi
    xor %esi, %esi
    syscall
pv_user_syscall_ret:
    mov %rax, %rdi
pv_user_ud2:
    ud2
    mov $2, %esi
    syscall
    ud2
pv_user_bench:
    mov $PV_USER_BENCH_CALLS, %ebx
1:  mov $7, %edi
    xor %esi, %esi
    syscall
    dec %ebx
    jnz 1b
    mov $2, %esi
    syscall
    ud2
pv_user_program_end:

    .section .bss, "aw", @nobits
    .balign 8
    .globl pv_sys_rdi, pv_sys_rsi, pv_sys_rip, pv_sys_cs, pv_sys_count
pv_kernel_rsp: .quad 0
pv_sys_rdi: .quad 0
pv_sys_rsi: .quad 0
pv_sys_rip: .quad 0
pv_sys_cs: .quad 0
pv_sys_count: .long 0

    .section .note.GNU-stack, "", @progbits
