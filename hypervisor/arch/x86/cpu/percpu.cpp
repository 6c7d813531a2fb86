#include "arch/percpu.hpp"

#include "arch/cpu.hpp"
#include "arch/paging.hpp"

namespace virtue::arch {

PerCpu g_percpu[MAX_CPUS];
uint32_t g_nr_cpus_possible = 1;
Atomic<uint32_t> g_nr_cpus_online{0};

void percpu_init_this_cpu(uint32_t index, uint32_t apic_id) {
    PerCpu& cpu = g_percpu[index];
    cpu.self = &cpu;
    cpu.cpu_index = index;
    cpu.apic_id = apic_id;
    wrmsr(MSR_GS_BASE, reinterpret_cast<uint64_t>(&cpu));
}

Status percpu_create_stacks(uint32_t index) {
    TRY(map_new_pages(main_stack_bottom(index), STACK_PAGES));
    for (unsigned ist = 1; ist <= 3; ist++) TRY(map_new_pages(ist_stack_bottom(index, ist), IST_PAGES));
    PerCpu& cpu = g_percpu[index];
    cpu.stack_top = main_stack_top(index);
    cpu.tss.rsp[0] = cpu.stack_top;
    for (unsigned ist = 1; ist <= 3; ist++) cpu.tss.ist[ist - 1] = ist_stack_top(index, ist);
    return Status::success();
}

} // namespace virtue::arch
