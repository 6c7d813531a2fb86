/*
 * Exception entry stubs for the trap table (trap_checks.cpp). Xen's 64-bit
 * PV bounce frame on entry, lowest address first:
 *     rcx, r11, [error code], rip, cs, rflags, rsp, ss
 * Like Linux, a stub first pops rcx and r11 (the hypervisor clobbered them
 * to deliver), pushes a 0 error code where the CPU gives none, and the
 * vector; the common part saves the registers, calls pv_trap_handler with
 * the frame, and returns with HYPERVISOR_iret, whose frame is
 *     rax, r11, rcx, flags, rip, cs, rflags, rsp, ss.
 */
#define __ASSEMBLY__ 1 /* the headers hide their C parts */
#include <xen/xen.h>
#include "iret.h"

    .section .text, "ax", @progbits

.macro trap_stub vec:req, has_error:req
    .globl pv_trap_\vec
pv_trap_\vec:
    pop %rcx
    pop %r11
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vec
    jmp pv_trap_common
.endm

    trap_stub 0, 0
    trap_stub 3, 0
    trap_stub 6, 0
    trap_stub 7, 0
    trap_stub 11, 1
    trap_stub 13, 1
    trap_stub 14, 1
    trap_stub 64, 0
    trap_stub 128, 0

/* The event callback: Xen's frame has no error code, as an exception
 * without one; vector 0x100 tells the handler it is an event upcall. */
    .globl pv_event_entry
pv_event_entry:
    pop %rcx
    pop %r11
    pushq $0
    pushq $0x100
    jmp pv_trap_common

pv_trap_common:
    push %rax
    push %rcx
    push %rdx
    push %rbx
    push %rbp
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi          /* struct TrapFrame */
    mov %rsp, %rbx
    and $-16, %rsp          /* the ABI's call alignment */
    call pv_trap_handler
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rbp
    pop %rbx
    pop %rdx
    pop %rcx
    pop %rax
    add $16, %rsp           /* vector, error code */
    hypervisor_iret $0      /* (not VGCF_in_syscall) */

/*
 * pv_iret_to(ss): HYPERVISOR_iret back into kernel mode right after
 * itself, with stack selector `ss` (rdi). If the hypervisor cannot resume
 * with it, the fault its iretq raises goes to our trap handler, which
 * resumes there with the flat SS. Callee-saved registers survive (RAX,
 * RCX and R11 do not).
 */
    .globl pv_iret_to
pv_iret_to:
    mov %rsp, %rax
    push %rdi                   /* ss */
    push %rax                   /* rsp: our return address on top */
    pushq $0x2                  /* rflags: IF clear (events stay masked) */
    pushq $(FLAT_KERNEL_CS64 & ~3) /* kernel mode: RPL 0 in the frame */
    lea 1f(%rip), %rax
    push %rax                   /* rip */
    hypervisor_iret $0
1:  ret

/* The failsafe callback (gdt_checks.cpp, selector mode): its frame, lowest
 * address first, is rcx, r11, ds, es, fs, gs, rip, cs, rflags, rsp, ss. It
 * records ES and returns to where the guest was (the selectors stay null). */
    .globl pv_failsafe_entry
pv_failsafe_entry:
    pop %rcx
    pop %r11
    mov 8(%rsp), %rax
    mov %rax, pv_failsafe_es(%rip)
    incl pv_failsafe_count(%rip)
    add $32, %rsp               /* rip, cs, rflags, rsp, ss */
    hypervisor_iret $0

    .section .bss, "aw", @nobits
    .balign 8
    .globl pv_failsafe_count, pv_failsafe_es
pv_failsafe_count: .quad 0
pv_failsafe_es: .quad 0

    .section .note.GNU-stack, "", @progbits
