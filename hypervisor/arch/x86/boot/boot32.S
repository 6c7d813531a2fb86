/*
 * 32-bit multiboot2 entry: GRUB2 leaves us in flat protected mode with paging
 * off, EAX = multiboot2 magic, EBX = physical address of the boot info.
 *
 * We build just enough paging to enter long mode (identity map of the first
 * 4 GiB, the same 4 GiB at the direct-map base, and the image at its fixed
 * virtual address), then jump to the 64-bit entry in the high image. C++
 * rebuilds the real page tables from the memory map.
 */
#include "arch/layout.h"

#define CR0_PE (1 << 0)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_PGE (1 << 7)
#define EFER_MSR 0xc0000080
#define EFER_SCE (1 << 0)
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)
#define PTE_P_RW 0x3
#define PDE_LARGE 0x83

#define SLOT(va) (((va) >> 39) & 511)
#define PDPT_INDEX(va) (((va) >> 30) & 511)
#define PD_INDEX(va) (((va) >> 21) & 511)

#define IMAGE_MAP_2M_PAGES 32 /* 64 MiB: the boot mapping of the image */

    .section .boot.text, "ax"
    .code32
    .globl boot32_entry
boot32_entry:
    cli
    cld
    mov %eax, boot_mb_magic
    mov %ebx, boot_mb_info
    rdtsc
    mov %eax, boot_tsc
    mov %edx, boot_tsc + 4
    mov $boot32_stack_top, %esp

    /* Long mode available? */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb no_long_mode
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx
    jnc no_long_mode
    mov %edx, %esi              /* remember NX support (bit 20) */

    /* Zero the boot page tables. */
    mov $boot_page_tables, %edi
    mov $(boot_page_tables_end - boot_page_tables) / 4, %ecx
    xor %eax, %eax
    rep stosl

    /* PML4: identity (slot 0), direct map (its first slot), image slot. */
    mov $boot_pdpt_low + PTE_P_RW, %eax
    mov %eax, boot_pml4
    mov %eax, boot_pml4 + 8 * SLOT(DIRECTMAP_VIRT_START)
    mov $boot_pdpt_image + PTE_P_RW, %eax
    mov %eax, boot_pml4 + 8 * SLOT(IMAGE_VIRT_START)

    /* PDPT low: four page directories covering 4 GiB. */
    mov $boot_pd_low + PTE_P_RW, %eax
    mov $boot_pdpt_low, %edi
    mov $4, %ecx
1:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 1b

    /* 2048 x 2 MiB identity pages. */
    mov $boot_pd_low, %edi
    mov $PDE_LARGE, %eax
    xor %edx, %edx
    mov $2048, %ecx
1:  mov %eax, (%edi)
    mov %edx, 4(%edi)
    add $0x200000, %eax
    adc $0, %edx
    add $8, %edi
    loop 1b

    /* Image: IMAGE_VIRT_START -> IMAGE_PHYS_START with 2 MiB pages. */
    mov $boot_pd_image + PTE_P_RW, %eax
    mov %eax, boot_pdpt_image + 8 * PDPT_INDEX(IMAGE_VIRT_START)
    mov $boot_pd_image + 8 * PD_INDEX(IMAGE_VIRT_START), %edi
    mov $IMAGE_PHYS_START + PDE_LARGE, %eax
    mov $IMAGE_MAP_2M_PAGES, %ecx
1:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b

    /* Enter long mode. */
    mov %cr4, %eax
    or $(CR4_PAE | CR4_PGE), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $EFER_MSR, %ecx
    rdmsr
    or $(EFER_LME | EFER_SCE), %eax
    bt $20, %esi
    jnc 1f
    or $EFER_NXE, %eax
1:  wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_WP | CR0_PE), %eax
    mov %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $boot64_low

no_long_mode:
    /* Say why on COM1 (115200 8n1 as GRUB left it), then stop. */
    mov $no_long_mode_msg, %esi
1:  lodsb
    test %al, %al
    jz 2f
    mov $0x3f8, %dx
    out %al, %dx
    jmp 1b
2:  hlt
    jmp 2b

    .code64
boot64_low:
    xor %eax, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    movabs $boot64_high, %rax
    jmp *%rax

    .section .boot.data, "aw"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt
    .globl boot_mb_magic, boot_mb_info, boot_tsc
boot_mb_magic: .long 0
boot_mb_info:  .long 0
    .balign 8
boot_tsc:      .quad 0
no_long_mode_msg:
    .asciz "Virtue: this CPU has no long mode; cannot boot.\r\n"

    .section .boot.bss, "aw", @nobits
    .balign 4096
    .globl boot_pml4
boot_page_tables:
boot_pml4:       .skip 4096
boot_pdpt_low:   .skip 4096
boot_pd_low:     .skip 4 * 4096
boot_pdpt_image: .skip 4096
boot_pd_image:   .skip 4096
boot_page_tables_end:
    .skip 1024
boot32_stack_top:

/* ---- 64-bit, running at the image's virtual address ---- */
    .section .text.entry, "ax"
    .code64
boot64_high:
    /* Zero .bss (holds the boot stack, so before any call). */
    lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    lea bsp_boot_stack_top(%rip), %rsp
    xor %ebp, %ebp
    movabs $boot_mb_magic, %rax
    mov (%rax), %edi
    movabs $boot_mb_info, %rax
    mov (%rax), %esi
    movabs $boot_tsc, %rax
    mov (%rax), %rdx
    call start_hypervisor
1:  cli
    hlt
    jmp 1b

    .section .bss
    .balign 4096
    .globl bsp_boot_stack_top
bsp_boot_stack:
    .skip 16384
bsp_boot_stack_top:
