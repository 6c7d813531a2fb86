// Measures the TSC against the HPET main counter (preferred: its period is
// exact) or the PIT's channel 2 (always present on a PC).
#include "arch/calibrate.hpp"

#include "arch/cpu.hpp"
#include "arch/mmio.hpp"

namespace virtue::arch {
namespace {

constexpr uint64_t CALIBRATION_MS = 20;

bool calibrate_hpet(uint64_t hpet_phys, uint64_t& hz) {
    auto va = ioremap(PhysAddr(hpet_phys), 0x1000);
    if (!va) return false;
    auto* regs = va->as<volatile uint64_t>();
    uint64_t caps = regs[0];                 // general capabilities
    uint64_t period_fs = caps >> 32;         // counter tick in femtoseconds
    if (period_fs == 0 || period_fs > 100000000) return false; // spec: <= 100 ns
    regs[0x10 / 8] = regs[0x10 / 8] | 1;     // enable the main counter
    volatile uint64_t* counter = &regs[0xf0 / 8];
    uint64_t ticks = CALIBRATION_MS * 1000000000000ull / period_fs;
    uint64_t h0 = *counter;
    uint64_t t0 = rdtsc();
    while (*counter - h0 < ticks) cpu_relax();
    uint64_t t1 = rdtsc();
    uint64_t h1 = *counter;
    // ~20 ms: (h1-h0)*period_fs and tsc_delta*1e9 stay far below 2^64.
    uint64_t elapsed_ns = (h1 - h0) * period_fs / 1000000;
    if (elapsed_ns == 0) return false;
    hz = (t1 - t0) * 1000000000 / elapsed_ns;
    return hz != 0;
}

uint64_t calibrate_pit() {
    constexpr uint64_t PIT_HZ = 1193182;
    uint64_t count = PIT_HZ * CALIBRATION_MS / 1000;
    // Channel 2, gate on, speaker off; mode 0 (interrupt on terminal count).
    outb(0x61, static_cast<uint8_t>((inb(0x61) & ~0x02) | 0x01));
    outb(0x43, 0xb0);
    outb(0x42, static_cast<uint8_t>(count));
    outb(0x42, static_cast<uint8_t>(count >> 8));
    uint64_t t0 = rdtsc();
    for (uint64_t i = 0; i < 1000000000 && !(inb(0x61) & 0x20); i++) cpu_relax();
    uint64_t t1 = rdtsc();
    return (t1 - t0) * 1000 / CALIBRATION_MS;
}

} // namespace

TscCalibration calibrate_tsc(uint64_t hpet_phys) {
    uint64_t hz;
    if (hpet_phys && calibrate_hpet(hpet_phys, hz)) return {hz, "HPET"};
    return {calibrate_pit(), "PIT"};
}

} // namespace virtue::arch
