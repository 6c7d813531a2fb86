#include "core/shutdown.hpp"

#include "arch/cpu.hpp"
#include "console/console.hpp"
#include "core/cmdline.hpp"
#include "time/clock.hpp"

namespace virtue {
namespace {

bool opt_noreboot = false;
VIRTUE_BOOLEAN_PARAM("noreboot", opt_noreboot);
uint64_t opt_debug_exit = 0; // I/O port of QEMU's isa-debug-exit device, 0 = none
VIRTUE_UINT_PARAM("debug-exit", opt_debug_exit);

uint8_t g_reset_space = 0xff;
uint64_t g_reset_address;
uint8_t g_reset_value;

[[noreturn]] void reboot() {
    log_info("rebooting");
    constexpr uint8_t GAS_SYSTEM_IO = 1;
    if (g_reset_space == GAS_SYSTEM_IO && g_reset_address <= 0xffff)
        arch::outb(static_cast<uint16_t>(g_reset_address), g_reset_value);
    if (clock_ready()) udelay(50000);
    arch::outb(0xcf9, 0x06); // PCI reset control: hard reset
    if (clock_ready()) udelay(50000);
    arch::outb(0x64, 0xfe); // keyboard controller pulse reset line
    if (clock_ready()) udelay(50000);
    arch::reset_by_triple_fault();
}

} // namespace

void shutdown_set_reset_register(uint8_t space, uint64_t address, uint8_t value) {
    g_reset_space = space;
    g_reset_address = address;
    g_reset_value = value;
}

void shutdown(ShutdownReason reason) {
    arch::irq_disable();
    if (opt_debug_exit && opt_debug_exit <= 0xffff) {
        uint32_t code = reason == ShutdownReason::Success   ? DEBUG_EXIT_SUCCESS
                        : reason == ShutdownReason::Failure ? DEBUG_EXIT_FAILURE
                                                            : DEBUG_EXIT_PANIC;
        arch::outl(static_cast<uint16_t>(opt_debug_exit), code);
    }
    if (reason == ShutdownReason::Panic && !opt_noreboot) reboot();
    log_info("halting (%s)", reason == ShutdownReason::Panic ? "noreboot" : "shutdown");
    arch::halt_forever();
}

} // namespace virtue
