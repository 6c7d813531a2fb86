// Host stand-in for arch/cpu.hpp (tests/unit/fakes/include comes first on
// the host include path, so hypervisor code compiled for the unit tests
// gets this file instead of the x86 one).
//
// Only what host-compiled hypervisor code uses. The interrupt flag is
// simulated: cli/sti fault in user mode, and a simulated flag lets the
// tests check that every IrqLockGuard gave it back. Add a function here
// when new host-compiled code needs one; an instruction that only makes
// sense in ring 0 should stay out (the code using it does not belong in a
// host test).
#pragma once

#include <stdint.h>

namespace virtue::arch {

// The simulated RFLAGS.IF of the one host CPU.
inline bool g_host_irqs_on = true;
inline constexpr uint64_t kHostFlagsIf = 1u << 9;

inline void cpu_relax() { __builtin_ia32_pause(); }
inline bool irqs_enabled() { return g_host_irqs_on; }
inline void irq_disable() { g_host_irqs_on = false; }
inline void irq_enable() { g_host_irqs_on = true; }
inline uint64_t save_flags() { return g_host_irqs_on ? kHostFlagsIf : 0; }
inline uint64_t irq_save() {
    uint64_t f = save_flags();
    irq_disable();
    return f;
}
inline void irq_restore(uint64_t flags) {
    if (flags & kHostFlagsIf) irq_enable();
}

} // namespace virtue::arch
