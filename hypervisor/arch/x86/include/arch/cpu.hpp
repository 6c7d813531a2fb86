// Thin wrappers around x86 instructions the hypervisor needs.
#pragma once

#include <stdint.h>

namespace virtue::arch {

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
}

inline uint64_t rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t{hi} << 32) | lo;
}

inline void wrmsr(uint32_t msr, uint64_t v) {
    asm volatile("wrmsr" : : "c"(msr), "a"(static_cast<uint32_t>(v)),
                 "d"(static_cast<uint32_t>(v >> 32))
                 : "memory");
}

struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};

inline CpuidResult cpuid(uint32_t leaf, uint32_t subleaf = 0) {
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                 : "a"(leaf), "c"(subleaf));
    return r;
}

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

inline uint64_t read_cr0() { uint64_t v; asm volatile("mov %%cr0, %0" : "=r"(v)); return v; }
inline uint64_t read_cr2() { uint64_t v; asm volatile("mov %%cr2, %0" : "=r"(v)); return v; }
inline uint64_t read_cr3() { uint64_t v; asm volatile("mov %%cr3, %0" : "=r"(v)); return v; }
inline uint64_t read_cr4() { uint64_t v; asm volatile("mov %%cr4, %0" : "=r"(v)); return v; }
inline void write_cr0(uint64_t v) { asm volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
inline void write_cr3(uint64_t v) { asm volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
inline void write_cr4(uint64_t v) { asm volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }

inline void invlpg(uint64_t va) { asm volatile("invlpg (%0)" : : "r"(va) : "memory"); }
inline void flush_tlb_local() { write_cr3(read_cr3()); }

inline void cpu_relax() { asm volatile("pause" ::: "memory"); }

// Writes back and invalidates the cache lines of [p, p + bytes) (64-byte
// lines, as on every x86-64 CPU with CLFLUSH), ordered after earlier stores
// and before later ones.
inline void clflush_range(void* p, uint64_t bytes) {
    asm volatile("mfence" ::: "memory");
    for (uint64_t off = 0; off < bytes; off += 64) asm volatile("clflush (%0)" ::"r"(static_cast<char*>(p) + off) : "memory");
    asm volatile("mfence" ::: "memory");
}
inline void halt() { asm volatile("hlt" ::: "memory"); }
inline void irq_disable() { asm volatile("cli" ::: "memory"); }
inline void irq_enable() { asm volatile("sti" ::: "memory"); }
// sti; hlt: the interrupt shadow makes the pair atomic, so a wake-up IRQ
// arriving between the two cannot be lost.
inline void safe_halt() { asm volatile("sti; hlt" ::: "memory"); }

inline uint64_t save_flags() {
    uint64_t f;
    asm volatile("pushfq; popq %0" : "=r"(f) : : "memory");
    return f;
}
inline bool irqs_enabled() { return save_flags() & (1u << 9); }
// With interrupts off: lets the interrupts pending now be taken (sti's
// one-instruction shadow covers the nop), then turns them off again.
inline void irq_window() { asm volatile("sti; nop; cli" ::: "memory"); }
inline uint64_t irq_save() {
    uint64_t f = save_flags();
    irq_disable();
    return f;
}
inline void irq_restore(uint64_t flags) {
    if (flags & (1u << 9)) irq_enable();
}

[[noreturn]] inline void halt_forever() {
    for (;;) {
        irq_disable();
        halt();
    }
}

// Model-specific registers used by the hypervisor.
inline constexpr uint32_t MSR_APIC_BASE = 0x1b;
inline constexpr uint32_t MSR_EFER = 0xc0000080;
inline constexpr uint32_t MSR_FS_BASE = 0xc0000100;
inline constexpr uint32_t MSR_GS_BASE = 0xc0000101;
inline constexpr uint32_t MSR_KERNEL_GS_BASE = 0xc0000102;
inline constexpr uint32_t MSR_TSC_DEADLINE = 0x6e0;

// The FS base the running thread sees (its TLS pointer).
inline void set_fs_base(uint64_t base) { wrmsr(MSR_FS_BASE, base); }
// The GS base ring 3 gets back: while the hypervisor runs, the swapgs of
// every entry keeps it in KERNEL_GS_BASE (and the hypervisor's own in
// GS_BASE); the swapgs on the way out exchanges them again.
inline void set_user_gs_base(uint64_t base) { wrmsr(MSR_KERNEL_GS_BASE, base); }
// The data segment selectors as ring 3 left them (the hypervisor never
// loads them on its way in or out).
struct DataSelectors {
    uint16_t ds, es, fs, gs;
};
inline DataSelectors read_data_selectors() {
    DataSelectors s;
    asm volatile("mov %%ds, %0\n\tmov %%es, %1\n\tmov %%fs, %2\n\tmov %%gs, %3"
                 : "=r"(s.ds), "=r"(s.es), "=r"(s.fs), "=r"(s.gs));
    return s;
}
// Loads the data selectors a thread resumes with (interrupts off, in the
// switch). The caller has checked each against the GDT loaded now (a
// selector that does not load would fault here, in ring 0). Loading FS or
// GS also loads the base from the descriptor: FS gets fs_base again, and
// GS is loaded with the hypervisor's own GS base swapped out (an NMI in
// between finds a GS base outside its range and swaps itself), ring 3's
// base then set to user_gs_base.
inline void load_data_selectors(const DataSelectors& s, uint64_t fs_base, uint64_t user_gs_base) {
    asm volatile("mov %0, %%ds\n\tmov %1, %%es\n\tmov %2, %%fs" : : "r"(s.ds), "r"(s.es), "r"(s.fs) : "memory");
    wrmsr(MSR_FS_BASE, fs_base);
    asm volatile("swapgs\n\t"
                 "mov %0, %%gs\n\t"
                 "wrmsr\n\t"
                 "swapgs"
                 :
                 : "r"(s.gs), "c"(MSR_GS_BASE), "a"(static_cast<uint32_t>(user_gs_base)),
                   "d"(static_cast<uint32_t>(user_gs_base >> 32))
                 : "memory");
}
// CR0.TS: set, the next FPU/SSE instruction raises #NM (a PV guest's lazy
// FPU switching, fpu_taskswitch); the hypervisor clears it before it saves
// or restores FPU state itself.
inline void clts() { asm volatile("clts" ::: "memory"); }
inline void stts() { write_cr0(read_cr0() | (1u << 3)); }

// Reboots by a triple fault: an exception with an empty IDT (the last resort
// when the chipset's reset paths did nothing).
[[noreturn]] inline void reset_by_triple_fault() {
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } empty{0, 0};
    asm volatile("lidt %0; int3" : : "m"(empty));
    halt_forever();
}

// Self-tests: raise #UD, and #DE by dividing by zero (in assembly: the
// compiler may turn a C division by a known value into something that never
// traps).
inline void raise_invalid_opcode() { asm volatile("ud2"); }
inline void raise_divide_error() {
    asm volatile("xor %%ecx, %%ecx; mov $1, %%eax; xor %%edx, %%edx; div %%ecx" ::: "rax", "rcx", "rdx");
}

} // namespace virtue::arch
