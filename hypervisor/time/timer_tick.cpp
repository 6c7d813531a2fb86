#include "time/timer_tick.hpp"

#include "arch/percpu.hpp"
#include "sched/scheduler.hpp"

namespace virtue {

void timer_tick() {
    // Per-CPU counter: only this CPU writes it; others may read it.
    arch::PerCpu& cpu = arch::this_cpu();
    __atomic_store_n(&cpu.ticks, cpu.ticks + 1, __ATOMIC_RELAXED);
    if (cpu.state == arch::CpuState::Online) sched_tick();
}

} // namespace virtue
