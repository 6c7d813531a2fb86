// Host stand-in for arch/percpu.hpp: one CPU, its structure a plain
// variable instead of one reached through %gs.
//
// Only the part host-compiled code uses: the held-lock record of debug
// builds (lib/spinlock.cpp), so the host tests check lock ranks as the
// debug hypervisor does.
#pragma once

#include <stdint.h>

#include "lib/lock_rank.hpp"

namespace virtue::arch {

struct PerCpu {
    uint32_t cpu_index = 0;
#ifdef VIRTUE_DEBUG
    HeldLocks held_locks;
#endif
};

inline PerCpu g_host_cpu;

inline PerCpu& this_cpu() { return g_host_cpu; }
inline uint32_t cpu_index() { return g_host_cpu.cpu_index; }

} // namespace virtue::arch
