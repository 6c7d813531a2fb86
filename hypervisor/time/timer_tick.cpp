#include "time/timer_tick.hpp"

#include "arch/percpu.hpp"
#include "sched/scheduler.hpp"

namespace virtue {

void timer_tick() {
    // Per-CPU counter: only this CPU writes it; others may read it.
    arch::PerCpu& cpu = arch::this_cpu();
    cpu.ticks.store(cpu.ticks.load(MemOrder::Relaxed) + 1, MemOrder::Relaxed);
    // Relaxed: this CPU wrote its own state before enabling its tick.
    if (cpu.state.load(MemOrder::Relaxed) == arch::CpuState::Online) sched_tick();
}

} // namespace virtue
