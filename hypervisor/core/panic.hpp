// Fatal errors: stop all CPUs, say which CPU and why, then shut down.
#pragma once

#include <stdint.h>

namespace virtue {

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
bool panic_in_progress();
// Claims the panic for this CPU (a second panicking CPU halts here), stops
// the other CPUs and takes over the console. Idempotent for the owner.
void panic_enter();

// Prints "  [addr] symbol+off" lines walking the frame-pointer chain from rbp.
void print_backtrace(uint64_t rip, uint64_t rbp);

#define VIRTUE_ASSERT(cond)                                                                       \
    do {                                                                                          \
        if (!(cond)) ::virtue::panic("assertion '%s' failed at %s:%d", #cond, __FILE__, __LINE__); \
    } while (0)

} // namespace virtue
