// Ending the hypervisor: halt, reboot, or (under test) exit QEMU.
#pragma once

#include <stdint.h>

namespace virtue {

enum class ShutdownReason { Success, Failure, Panic };

// isa-debug-exit values: QEMU exits with (value << 1) | 1.
inline constexpr uint32_t DEBUG_EXIT_SUCCESS = 0x10; // QEMU status 33
inline constexpr uint32_t DEBUG_EXIT_FAILURE = 0x11; // QEMU status 35
inline constexpr uint32_t DEBUG_EXIT_PANIC = 0x12;   // QEMU status 37

// Records the ACPI reset register (FADT) for reboots.
void shutdown_set_reset_register(uint8_t space, uint64_t address, uint8_t value);

// With debug-exit=<port>: exit QEMU with the reason's status. Otherwise a
// panic halts under noreboot and reboots without it; Success/Failure halt.
[[noreturn]] void shutdown(ShutdownReason reason);

} // namespace virtue
