// GDT, TSS and IDT formats and the hypervisor's selectors.
//
// Selectors follow Xen's x86_64 layout: the hypervisor's descriptors sit at
// 0xe000 and up (FIRST_RESERVED_GDT_ENTRY = 14 pages of guest descriptors
// below), and the flat ring-3 selectors are the FLAT_RING3_* values of
// xen-x86_64.h, so a PV guest later sees the selectors it expects.
#pragma once

#include <stdint.h>

#include "lib/addr.hpp"
#include "lib/result.hpp"

namespace virtue::arch {

inline constexpr uint16_t GDT_RESERVED_BASE = 0xe000; // byte offset of our entries
inline constexpr uint16_t HYPERVISOR_CS = 0xe008;
inline constexpr uint16_t HYPERVISOR_DS = 0xe010;
inline constexpr uint16_t RING3_CS32 = 0xe023;
inline constexpr uint16_t RING3_DS = 0xe02b;
inline constexpr uint16_t RING3_CS64 = 0xe033;
inline constexpr uint16_t TSS_SELECTOR = 0xe040;
inline constexpr uint16_t LDT_SELECTOR = 0xe050; // the running PV vCPU's LDT (load_ldt)

struct __attribute__((packed)) Tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};
static_assert(sizeof(Tss) == 104);

// Our reserved GDT entries (index 0 = selector 0xe000).
struct alignas(16) Gdt {
    uint64_t entries[16];
};

struct __attribute__((packed)) DescriptorPointer {
    uint16_t limit;
    uint64_t base;
};

struct IdtEntry {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};
static_assert(sizeof(IdtEntry) == 16);

// Register state saved by the interrupt entry stubs (arch/x86/cpu/entry.S).
struct InterruptFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss; // pushed by the CPU
};

// IST slots used by the IDT.
inline constexpr unsigned IST_NMI = 1;
inline constexpr unsigned IST_DOUBLE_FAULT = 2;
inline constexpr unsigned IST_MACHINE_CHECK = 3;

// Interrupt vectors the hypervisor uses.
inline constexpr uint8_t VECTOR_TIMER = 0xf0;
// 0xf1: TLB shootdown (arch/tlb.hpp)
inline constexpr uint8_t VECTOR_RESCHEDULE = 0xf2; // look at the run queue / the running thread's requests
inline constexpr uint8_t VECTOR_SPURIOUS = 0xff;

void gdt_load_this_cpu();   // builds and loads this CPU's GDT + TSS
// Once memory is up, before ring 3: moves this CPU's GDT into `block` (2^
// GDT_AREA_ORDER frames the caller allocated for it, kept for good), where
// the 0xe000 bytes below it (the guest selectors) are zero; the second 64
// KiB of the block is this CPU's LDT area.
inline constexpr unsigned GDT_AREA_ORDER = 5; // 64 KiB >= 0xe000 + sizeof(Gdt), then 64 KiB of LDT
void gdt_move_to_safe_area(PhysAddr block);
// This CPU's GDT entries below selector 0xe000 (GUEST_GDT_ENTRIES of them):
// where the running PV vCPU's own GDT is copied (zero otherwise).
inline constexpr unsigned GUEST_GDT_ENTRIES = GDT_RESERVED_BASE / 8;
uint64_t* guest_gdt_entries();
// This CPU's LDT area (GUEST_LDT_ENTRIES descriptors, hypervisor memory):
// where the running PV vCPU's LDT is copied. load_ldt(n) makes its first
// n entries the CPU's LDT (n = 0: none, the LDTR null).
inline constexpr unsigned GUEST_LDT_ENTRIES = 8192;
uint64_t* guest_ldt_entries();
void load_ldt(uint32_t entries);
void idt_init();            // once, on the boot CPU
void idt_load_this_cpu();

} // namespace virtue::arch
