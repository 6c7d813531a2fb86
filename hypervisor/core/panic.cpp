#include "core/panic.hpp"

#include <stdarg.h>

#include "arch/cpu.hpp"
#include "arch/percpu.hpp"
#include "arch/smp.hpp"
#include "lib/atomic.hpp"
#include "console/console.hpp"
#include "core/shutdown.hpp"
#include "core/symbols.hpp"
#include "lib/format.hpp"
#include "lib/spinlock.hpp"

extern "C" char bsp_boot_stack_top[];

namespace virtue {
namespace {

// The CPU that owns the panic (~0: none). Claimed by compare-exchange
// (acq_rel: the winner sees what earlier panickers did); read with acquire.
Atomic<uint32_t> g_panic_cpu{~0u};

bool within(uint64_t addr, uint64_t bottom, uint64_t top) { return addr >= bottom && addr + 16 <= top; }

// A frame record (saved rbp + return address) must lie wholly inside one of
// this CPU's mapped stacks; the guard pages between them are unmapped.
bool on_known_stack(uint64_t addr) {
    uint32_t cpu = arch::cpu_index();
    if (within(addr, arch::main_stack_bottom(cpu), arch::main_stack_top(cpu))) return true;
    for (unsigned ist = 1; ist <= 3; ist++)
        if (within(addr, arch::ist_stack_bottom(cpu, ist), arch::ist_stack_top(cpu, ist))) return true;
    auto boot_top = reinterpret_cast<uint64_t>(bsp_boot_stack_top);
    return cpu == 0 && within(addr, boot_top - 16384, boot_top);
}

// For a return address, look up addr - 1: a call to a noreturn function may
// be the last instruction of its caller, so addr itself names the next one.
void print_frame(uint64_t addr, bool is_return) {
    SymbolHit hit = symbol_lookup(addr - (is_return ? 1 : 0));
    hit.offset += is_return ? 1 : 0;
    if (hit.name) console_print_raw("  [%016lx] %s+0x%lx\n", addr, hit.name, hit.offset);
    else console_print_raw("  [%016lx] ?\n", addr);
}

} // namespace

bool panic_in_progress() { return g_panic_cpu.load(MemOrder::Acquire) != ~0u; }

void print_backtrace(uint64_t rip, uint64_t rbp) {
    console_write_raw("Backtrace:\n", 11);
    print_frame(rip, false);
    // Each frame: [rbp] = caller's rbp, [rbp+8] = return address.
    for (int depth = 0; depth < 32 && rbp && (rbp & 7) == 0 && on_known_stack(rbp); depth++) {
        auto* frame = reinterpret_cast<const uint64_t*>(rbp);
        uint64_t ret = frame[1];
        if (!ret) break;
        print_frame(ret, true);
        if (frame[0] <= rbp) break; // stacks grow down: callers are above
        rbp = frame[0];
    }
}

void panic_enter() {
    arch::irq_disable();
    // From here locks are broken (the console's) and taken in whatever
    // order the dump needs: no more rank checks, on any CPU.
    lock_ranks_stop();
    uint32_t me = arch::cpu_index();
    uint32_t expected = ~0u;
    if (!g_panic_cpu.compare_exchange(expected, me, MemOrder::AcqRel, MemOrder::Acquire)) {
        if (expected == me) return; // already ours (fault dump, then panic)
        arch::halt_forever();       // another CPU owns the panic and stops us
    }
    arch::stop_other_cpus();
    console_enter_panic_mode();
}

void panic(const char* fmt, ...) {
    panic_enter();
    uint32_t me = arch::cpu_index();

    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[512];
    size_t n = format(line, sizeof line, "\n**** PANIC on CPU %u: %s ****\n", me, msg);
    console_write_raw(line, n < sizeof line ? n : sizeof line - 1);
    // Start from our caller: our own frame's saved rbp is the caller's frame.
    auto* frame = static_cast<const uint64_t*>(__builtin_frame_address(0));
    print_backtrace(reinterpret_cast<uint64_t>(__builtin_return_address(0)), frame[0]);
    shutdown(ShutdownReason::Panic);
}

// A call through a pure virtual slot (an object used during construction).
extern "C" [[noreturn]] void __cxa_pure_virtual() { panic("pure virtual function called"); }

// libfdt and any stack-protected code call this on a smashed canary.
extern "C" [[noreturn]] void __stack_chk_fail() { panic("stack protector: stack smashed"); }

} // namespace virtue
