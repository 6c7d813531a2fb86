/*
 * Application-processor start-up code. It is stored in .rodata and copied to
 * AP_TRAMPOLINE_PHYS (below 1 MiB) before each INIT-SIPI-SIPI; the SIPI
 * vector is that page. Real mode -> protected mode -> long mode on the
 * hypervisor's page tables (which identity-map this page while APs start),
 * then a jump to ap_entry64 in the high image with the CPU's stack.
 */
#include "arch/layout.h"

#define TRAMP(x) ((x) - ap_trampoline_start + AP_TRAMPOLINE_PHYS)

    .section .ap_trampoline, "a"
    .code16
    .globl ap_trampoline_start, ap_trampoline_params
ap_trampoline_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl TRAMP(ap_gdt_ptr)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $TRAMP(ap_pm32)

    .code32
ap_pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $((1 << 5) | (1 << 7)), %eax        /* PAE | PGE */
    mov %eax, %cr4
    mov TRAMP(ap_param_cr3), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    rdmsr
    or $((1 << 8) | (1 << 0)), %eax        /* LME | SCE */
    or TRAMP(ap_param_efer_extra), %eax    /* NXE when the BSP has it */
    wrmsr
    mov %cr0, %eax
    and $~((1 << 30) | (1 << 29)), %eax    /* INIT leaves caching off: clear CD, NW */
    or $((1 << 31) | (1 << 16) | 1), %eax  /* PG | WP | PE */
    mov %eax, %cr0
    ljmp $0x18, $TRAMP(ap_lm64)

    .code64
ap_lm64:
    xor %eax, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov TRAMP(ap_param_stack), %rsp
    pushq $0                               /* null return address ends backtraces */
    mov TRAMP(ap_param_cpu), %edi
    mov TRAMP(ap_param_entry), %rax
    xor %ebp, %ebp
    jmp *%rax

    .balign 8
ap_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
    .quad 0x00af9a000000ffff    /* 0x18: 64-bit code */
ap_gdt_ptr:
    .short ap_gdt_ptr - ap_gdt - 1
    .long TRAMP(ap_gdt)

    /* Filled in by smp.cpp for each AP (layout: ApTrampolineParams). */
    .balign 8
ap_trampoline_params:
ap_param_cr3:        .long 0
ap_param_efer_extra: .long 0
ap_param_stack:      .quad 0
ap_param_entry:      .quad 0
ap_param_cpu:        .long 0
                     .long 0
    .globl ap_trampoline_end
ap_trampoline_end:
