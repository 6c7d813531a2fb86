/*
 * The hypervisor's virtual memory layout, Xen x86_64 PV compatible.
 *
 * Virtue lives only in the Xen-reserved range 0xFFFF800000000000 -
 * 0xFFFF87FFFFFFFFFF (PML4 slots 256-271) of every address space; everything
 * else belongs to the domain. The slots follow Xen's x86_64 layout where Xen
 * has one, so PV guests see what they expect (the M2P at the base).
 *
 * Plain macros: this file is included by assembly and the linker script too.
 */
#ifndef VIRTUE_ARCH_LAYOUT_H
#define VIRTUE_ARCH_LAYOUT_H

#ifdef __ASSEMBLY__
#define VIRTUE_UL(x) x
#else
#define VIRTUE_UL(x) x##UL
#endif

/* Whole reserved range (matches __HYPERVISOR_VIRT_START/END in xen-x86_64.h). */
#define HV_RANGE_START      VIRTUE_UL(0xFFFF800000000000)
#define HV_RANGE_END        VIRTUE_UL(0xFFFF880000000000)

/* Slot 256: read-only machine-to-physical table (guest readable). */
#define M2P_VIRT_START      VIRTUE_UL(0xFFFF800000000000)
#define M2P_VIRT_END        VIRTUE_UL(0xFFFF804000000000)

/* Slot 257: per-domain mappings (reserved; not used yet). */
#define PERDOMAIN_VIRT_START VIRTUE_UL(0xFFFF808000000000)

/* Slot 258: MMIO mappings (local APIC, I/O APIC, HPET), uncached 4 KiB pages. */
#define IOREMAP_VIRT_START  VIRTUE_UL(0xFFFF810000000000)
#define IOREMAP_VIRT_END    VIRTUE_UL(0xFFFF818000000000)

/* Slot 259: hypervisor stacks, one guarded block per CPU, then the threads'
 * kernel stacks (THREAD_STACK_STRIDE each: unmapped guard, then the stack). */
#define STACKS_VIRT_START   VIRTUE_UL(0xFFFF818000000000)
#define STACKS_VIRT_END     VIRTUE_UL(0xFFFF820000000000)
#define THREAD_STACKS_VIRT_START (STACKS_VIRT_START + MAX_CPUS * STACK_STRIDE)
#define THREAD_STACK_STRIDE VIRTUE_UL(0x8000)
#define THREAD_STACK_PAGES  4

/* Slot 260: the frame table, one FrameInfo per machine frame. */
#define FRAMETABLE_VIRT_START VIRTUE_UL(0xFFFF820000000000)
#define FRAMETABLE_VIRT_END   VIRTUE_UL(0xFFFF828000000000)

/* Slot 261: the hypervisor image, at Xen's XEN_VIRT_START. */
#define IMAGE_VIRT_START    VIRTUE_UL(0xFFFF82D080000000)
#define IMAGE_VIRT_END      VIRTUE_UL(0xFFFF82D0C0000000) /* 1 GiB at most */

/* Slots 262-271: direct map of all machine RAM (5 TiB), as in Xen. */
#define DIRECTMAP_VIRT_START VIRTUE_UL(0xFFFF830000000000)
#define DIRECTMAP_VIRT_END   VIRTUE_UL(0xFFFF880000000000)

/* Physical load address of the image (2 MiB aligned, so 2 MiB pages map it). */
#define IMAGE_PHYS_START    VIRTUE_UL(0x200000)

/* Real-mode trampoline used to start application processors. */
#define AP_TRAMPOLINE_PHYS  VIRTUE_UL(0x8000)

/* Per-CPU hypervisor stack: pages, and the gap between CPUs (guard pages). */
#define STACK_PAGES         4
#define STACK_STRIDE        VIRTUE_UL(0x10000) /* 64 KiB per CPU block */

#define MAX_CPUS            64

#endif
