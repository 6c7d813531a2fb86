/*
 * Interrupt and exception entry: one 16-byte stub per vector pushes a dummy
 * error code where the CPU pushes none, then the vector number, and joins
 * interrupt_common, which saves the GPRs as an InterruptFrame
 * (arch/descriptors.hpp) and calls handle_interrupt(frame).
 */
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
    jmp interrupt_common
    .set vec, vec + 1
    .endr

interrupt_common:
    /* CS of the interrupted context is at 24(%rsp): vector, error, rip, cs. */
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:  pushq %rax
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
    cld
    mov %rsp, %rdi
    call handle_interrupt
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
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:  add $16, %rsp
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
