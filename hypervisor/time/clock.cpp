#include "time/clock.hpp"

#include "arch/cpu.hpp"

namespace virtue {
namespace {
uint64_t g_tsc_hz;
uint64_t g_entry_tsc;
uint64_t g_mul; // ns per tsc tick, 32.32 fixed point
bool g_ready;
} // namespace

void clock_init(uint64_t hz, uint64_t tsc_at_entry) {
    g_tsc_hz = hz;
    g_entry_tsc = tsc_at_entry;
    g_mul = (uint64_t{1000000000} << 32) / hz; // 1e9 << 32 still fits in 64 bits
    __atomic_store_n(&g_ready, true, __ATOMIC_RELEASE);
}

bool clock_ready() { return __atomic_load_n(&g_ready, __ATOMIC_ACQUIRE); }
uint64_t tsc_hz() { return g_tsc_hz; }

uint64_t tsc_to_ns(uint64_t delta) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * g_mul) >> 32);
}

uint64_t system_time_ns() { return tsc_to_ns(arch::rdtsc() - g_entry_tsc); }

void udelay(uint64_t us) {
    uint64_t end = arch::rdtsc() + g_tsc_hz / 1000000 * us;
    while (static_cast<int64_t>(arch::rdtsc() - end) < 0) arch::cpu_relax();
}

} // namespace virtue
