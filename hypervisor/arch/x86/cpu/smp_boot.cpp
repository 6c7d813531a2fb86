// Starting application processors: INIT-SIPI-SIPI through the local APIC
// (driven by smp/smp.cpp), a real-mode trampoline below 1 MiB, then C++ on
// the AP's own stack.
#include "arch/smp.hpp"

#include "arch/apic.hpp"
#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "arch/paging.hpp"
#include "arch/percpu.hpp"
#include "lib/string.hpp"

extern "C" char ap_trampoline_start[], ap_trampoline_end[], ap_trampoline_params[];

namespace virtue::arch {
namespace {

struct ApTrampolineParams {
    uint32_t cr3;
    uint32_t efer_extra;
    uint64_t stack;
    uint64_t entry;
    uint32_t cpu;
    uint32_t pad;
};

ApTrampolineParams* g_params;

} // namespace

extern "C" [[noreturn]] void ap_entry64(uint32_t index);

extern "C" void ap_entry64(uint32_t index) {
    PerCpu& cpu = g_percpu[index];
    percpu_init_this_cpu(index, cpu.apic_id);
    gdt_load_this_cpu();
    idt_load_this_cpu();
    lapic_init_this_cpu();
    ap_main(index);
}

void ap_trampoline_install() {
    size_t tramp_size = static_cast<size_t>(ap_trampoline_end - ap_trampoline_start);
    auto* tramp = phys_ptr<char>(PhysAddr(AP_TRAMPOLINE_PHYS));
    memcpy(tramp, ap_trampoline_start, tramp_size);
    g_params = reinterpret_cast<ApTrampolineParams*>(tramp + (ap_trampoline_params - ap_trampoline_start));
}

void ap_trampoline_aim(uint32_t index) {
    g_params->cr3 = static_cast<uint32_t>(kernel_root().raw());
    g_params->efer_extra = paging_features().nx ? (1u << 11) : 0;
    g_params->stack = g_percpu[index].stack_top;
    g_params->entry = reinterpret_cast<uint64_t>(&ap_entry64);
    g_params->cpu = index;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint8_t ap_trampoline_page() { return static_cast<uint8_t>(AP_TRAMPOLINE_PHYS >> 12); }

void stop_other_cpus() { lapic_send_nmi_all_but_self(); }

} // namespace virtue::arch
