// GDT, TSS and IDT setup.
#include "arch/descriptors.hpp"

#include "arch/paging.hpp"
#include "arch/percpu.hpp"
#include "lib/string.hpp"

extern "C" char interrupt_stubs[];

namespace virtue::arch {
namespace {

IdtEntry g_idt[256];

// IST stacks for the boot CPU before its real (guarded) stacks are mapped.
alignas(16) uint8_t g_early_ist_stacks[3][4096];

constexpr uint64_t CODE64_RING0 = 0x00af9a000000ffff;
constexpr uint64_t DATA_RING0 = 0x00cf92000000ffff;
constexpr uint64_t CODE32_RING3 = 0x00cffa000000ffff;
constexpr uint64_t DATA_RING3 = 0x00cff2000000ffff;
constexpr uint64_t CODE64_RING3 = 0x00affa000000ffff;

unsigned slot(uint16_t selector) { return (selector - GDT_RESERVED_BASE) >> 3; }

constexpr uint64_t kLdtOffset = 0x10000; // of the LDT area in the GDT's block

// A 16-byte system descriptor (TSS type 0x89, LDT type 0x82) at entry `at`.
void set_system_descriptor(Gdt& gdt, unsigned at, uint64_t base, uint64_t limit, uint64_t type) {
    gdt.entries[at] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (type << 40) | (((limit >> 16) & 0xf) << 48) |
                      (((base >> 24) & 0xff) << 56);
    gdt.entries[at + 1] = base >> 32;
}

void set_tss_descriptor(Gdt& gdt, const Tss* tss) {
    set_system_descriptor(gdt, slot(TSS_SELECTOR), reinterpret_cast<uint64_t>(tss), sizeof(Tss) - 1, 0x89);
}

void set_gate(unsigned vector, unsigned ist, unsigned dpl = 0) {
    uint64_t handler = reinterpret_cast<uint64_t>(interrupt_stubs) + vector * 16;
    IdtEntry& e = g_idt[vector];
    e.offset_low = static_cast<uint16_t>(handler);
    e.selector = HYPERVISOR_CS;
    e.ist = static_cast<uint8_t>(ist);
    e.type_attr = static_cast<uint8_t>(0x8e | dpl << 5); // present, DPL, 64-bit interrupt gate (IF cleared)
    e.offset_mid = static_cast<uint16_t>(handler >> 16);
    e.offset_high = static_cast<uint32_t>(handler >> 32);
    e.reserved = 0;
}

} // namespace

namespace {
void load_gdt(const Gdt& gdt) {
    DescriptorPointer ptr{static_cast<uint16_t>(GDT_RESERVED_BASE + sizeof(Gdt) - 1),
                          reinterpret_cast<uint64_t>(&gdt) - GDT_RESERVED_BASE};
    asm volatile("lgdt %0" : : "m"(ptr));
}
} // namespace

void gdt_move_to_safe_area(PhysAddr block) {
    // Selectors below 0xe000 belong to guests (Xen's layout) and must read
    // as zero (not present) until a guest installs its own: with the base
    // biased into hypervisor data, a domain could otherwise load whatever
    // lies before the GDT (e.g. a call gate made of its own saved RSP).
    static_assert(GDT_RESERVED_BASE + sizeof(Gdt) <= kLdtOffset && kLdtOffset + GUEST_LDT_ENTRIES * 8 <= (4096u << GDT_AREA_ORDER));
    PerCpu& cpu = this_cpu();
    auto* area = phys_ptr<uint8_t>(block);
    memset(area, 0, 4096u << GDT_AREA_ORDER);
    auto* gdt = reinterpret_cast<Gdt*>(area + GDT_RESERVED_BASE);
    *gdt = cpu.gdt; // the loaded TSS descriptor (busy) comes along
    load_gdt(*gdt);
    cpu.live_gdt = gdt;
}

uint64_t* guest_gdt_entries() {
    return reinterpret_cast<uint64_t*>(reinterpret_cast<uint8_t*>(this_cpu().live_gdt) - GDT_RESERVED_BASE);
}

uint64_t* guest_ldt_entries() {
    return reinterpret_cast<uint64_t*>(reinterpret_cast<uint8_t*>(this_cpu().live_gdt) - GDT_RESERVED_BASE + kLdtOffset);
}

void load_ldt(uint32_t entries) {
    PerCpu& cpu = this_cpu();
    if (entries == 0) {
        if (cpu.ldt_entries) asm volatile("lldt %w0" : : "r"(0) : "memory");
        cpu.ldt_entries = 0;
        return;
    }
    set_system_descriptor(*cpu.live_gdt, slot(LDT_SELECTOR), reinterpret_cast<uint64_t>(guest_ldt_entries()),
                          entries * 8 - 1, 0x82);
    asm volatile("lldt %w0" : : "r"(LDT_SELECTOR) : "memory");
    cpu.ldt_entries = entries;
}

void gdt_load_this_cpu() {
    PerCpu& cpu = this_cpu();
    Gdt& gdt = cpu.gdt;
    gdt.entries[slot(HYPERVISOR_CS)] = CODE64_RING0;
    gdt.entries[slot(HYPERVISOR_DS)] = DATA_RING0;
    gdt.entries[slot(RING3_CS32)] = CODE32_RING3;
    gdt.entries[slot(RING3_DS)] = DATA_RING3;
    gdt.entries[slot(RING3_CS64)] = CODE64_RING3;

    Tss& tss = cpu.tss;
    tss.rsp[0] = cpu.stack_top;
    for (unsigned ist = 1; ist <= 3; ist++)
        tss.ist[ist - 1] = cpu.stack_top ? ist_stack_top(cpu.cpu_index, ist)
                                         : reinterpret_cast<uint64_t>(g_early_ist_stacks[ist - 1] + 4096);
    tss.iomap_base = sizeof(Tss); // no I/O bitmap: ring 3 gets no ports
    set_tss_descriptor(gdt, &tss);

    // The base is biased so our entries start at selector 0xe000 (Xen's
    // layout). Until gdt_move_to_safe_area, the lower selectors point into
    // hypervisor data: nothing may run in ring 3 before the move.
    load_gdt(gdt);
    asm volatile("pushq %[cs]\n\t"
                 "leaq 1f(%%rip), %%rax\n\t"
                 "pushq %%rax\n\t"
                 "lretq\n"
                 "1:\n\t"
                 "movl %[ds], %%eax\n\t"
                 "movl %%eax, %%ss\n\t"
                 "xorl %%eax, %%eax\n\t"
                 "movl %%eax, %%ds\n\t"
                 "movl %%eax, %%es\n\t"
                 "movl %%eax, %%fs\n\t"
                 :
                 : [cs] "i"(HYPERVISOR_CS), [ds] "i"(HYPERVISOR_DS)
                 : "rax", "memory");
    // Loading %gs would clear GS base; leave the selector alone.
    asm volatile("ltr %w0" : : "r"(TSS_SELECTOR));
}

void idt_init() {
    for (unsigned v = 0; v < 256; v++) set_gate(v, 0);
    set_gate(2, IST_NMI);
    // int3 and into from ring 3 raise #BP and #OF (as on Xen, whose PV
    // guests' debuggers rely on them); every other software interrupt
    // from ring 3 is a #GP.
    set_gate(3, 0, 3);
    set_gate(4, 0, 3);
    set_gate(8, IST_DOUBLE_FAULT);
    set_gate(18, IST_MACHINE_CHECK);
}

void idt_load_this_cpu() {
    DescriptorPointer ptr{sizeof(g_idt) - 1, reinterpret_cast<uint64_t>(g_idt)};
    asm volatile("lidt %0" : : "m"(ptr));
}

} // namespace virtue::arch
