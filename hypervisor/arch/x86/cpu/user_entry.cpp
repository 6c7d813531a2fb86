// `syscall` MSRs and SSE enablement for ring-3 domains.
#include "arch/user_entry.hpp"

#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "arch/percpu.hpp"
#include "lib/string.hpp"

extern "C" void syscall_entry();
extern "C" void syscall_compat_entry();
extern "C" char user_copy_insn[], user_copy_tail_insn[], user_copy_recover[];

namespace virtue::arch {
namespace {
constexpr uint32_t MSR_STAR = 0xc0000081;
constexpr uint32_t MSR_LSTAR = 0xc0000082;
constexpr uint32_t MSR_CSTAR = 0xc0000083;
constexpr uint32_t MSR_FMASK = 0xc0000084;
constexpr uint64_t EFER_SCE = 1u << 0;
constexpr uint32_t MSR_PAT = 0x277;
// The page attribute table every domain runs with: Xen's value (WB, WT,
// UC-, UC, WC, WP, UC, UC), which its ABI promises PV guests, since their
// page-table entries reach the CPU as they wrote them. Entries 0-3 (no PAT
// bit) are the power-on defaults, so what PWT and PCD mean for the
// hypervisor and native domains does not change.
constexpr uint64_t kXenPat = 0x0000050100070406;
constexpr uint64_t CR0_MP = 1u << 1, CR0_EM = 1u << 2, CR0_TS = 1u << 3, CR0_NE = 1u << 5;
constexpr uint64_t CR4_OSFXSR = 1u << 9, CR4_OSXMMEXCPT = 1u << 10;
// RFLAGS bits cleared on entry: TF, IF, DF, AC, NT (interrupts stay off for
// the whole hypercall; the idle loop is where a CPU waits).
constexpr uint64_t FMASK = (1u << 8) | (1u << 9) | (1u << 10) | (1u << 18) | (1u << 14);

} // namespace

void user_entry_init_this_cpu(PhysAddr gdt_area) {
    gdt_move_to_safe_area(gdt_area);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    // STAR[47:32]: syscall CS (SS = +8); STAR[63:48] + 16 / + 8: sysret's
    // 64-bit CS / SS. With 0xe020 these are Xen's FLAT_RING3_CS64 (0xe033)
    // and FLAT_RING3_DS (0xe02b).
    wrmsr(MSR_STAR, (uint64_t{RING3_CS32 & ~3u} << 48) | (uint64_t{HYPERVISOR_CS} << 32));
    wrmsr(MSR_LSTAR, reinterpret_cast<uint64_t>(&syscall_entry));
    // `syscall` from 32-bit compatibility mode (a ring-3 CS of 0xe023) lands
    // here on AMD CPUs and under TCG: it must not find address 0.
    wrmsr(MSR_CSTAR, reinterpret_cast<uint64_t>(&syscall_compat_entry));
    wrmsr(MSR_FMASK, FMASK);
    // Nothing maps with the PAT bit yet and entries 0-3 keep their types, so
    // no cached translation or line changes type: no flush needed.
    wrmsr(MSR_PAT, kXenPat);
    write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    asm volatile("fninit");
}

void fpu_init_state(FpuState& s) {
    memset(&s, 0, sizeof s);
    s.bytes[0] = 0x7f; // FCW = 0x037f
    s.bytes[1] = 0x03;
    uint32_t mxcsr = 0x1f80;
    memcpy(&s.bytes[24], &mxcsr, 4);
    uint32_t mxcsr_mask = 0xffff;
    memcpy(&s.bytes[28], &mxcsr_mask, 4);
}

void set_kernel_stack(uint64_t top) {
    PerCpu& cpu = this_cpu();
    cpu.stack_top = top;
    cpu.tss.rsp[0] = top;
}

bool fixup_user_access(InterruptFrame& frame) {
    if (frame.rip != reinterpret_cast<uint64_t>(user_copy_insn) &&
        frame.rip != reinterpret_cast<uint64_t>(user_copy_tail_insn))
        return false;
    frame.rip = reinterpret_cast<uint64_t>(user_copy_recover);
    return true;
}

} // namespace virtue::arch
