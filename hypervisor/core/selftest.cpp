#include "core/selftest.hpp"

#include "arch/cpu.hpp"
#include "arch/percpu.hpp"
#include "console/console.hpp"
#include "core/cmdline.hpp"
#include "core/panic.hpp"
#include "core/shutdown.hpp"
#include "lib/format.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"
#include "smp/smp.hpp"
#include "time/clock.hpp"
#include "time/timer_tick.hpp"

namespace virtue {
namespace {

char opt_selftest[128];
VIRTUE_STRING_PARAM("selftest", opt_selftest);

void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n > sizeof line - 2) n = sizeof line - 2;
    line[n++] = '\n';
    console_write_raw(line, n);
}

void wait_ms(uint64_t ms) {
    uint64_t end = system_time_ns() + ms * 1000000;
    while (system_time_ns() < end) arch::safe_halt();
}

// Every online CPU's timer must tick, at roughly TICK_HZ.
bool test_ticks() {
    uint64_t before[MAX_CPUS];
    for (uint32_t i = 0; i < MAX_CPUS; i++) before[i] = arch::g_percpu[i].ticks.load(MemOrder::Relaxed);
    uint64_t t0 = system_time_ns();
    wait_ms(500);
    uint64_t elapsed_ms = (system_time_ns() - t0) / 1000000;
    uint64_t expected = elapsed_ms * TICK_HZ / 1000;
    bool ok = true;
    for (uint32_t i = 0; i < MAX_CPUS; i++) {
        const arch::PerCpu& cpu = arch::g_percpu[i];
        if (cpu.state.load(MemOrder::Acquire) != arch::CpuState::Online) continue;
        uint64_t ticks = cpu.ticks.load(MemOrder::Relaxed) - before[i];
        // Generous bounds: TCG vCPUs are descheduled by the host at times.
        bool cpu_ok = ticks >= expected / 4 && ticks <= expected * 2 + 2;
        say("selftest ticks: CPU %u: %lu ticks in %lu ms (expected ~%lu) %s", i, ticks, elapsed_ms,
            expected, cpu_ok ? "ok" : "BAD");
        ok = ok && cpu_ok;
    }
    return ok;
}

// All CPUs log at once: the harness checks that no line is torn.
// CPUs done logging: acq_rel so the waiter's final check follows their lines.
Atomic<uint32_t> g_stress_done{0};
void stress_lines() {
    for (int i = 0; i < 40; i++)
        log_info("console-stress cpu=%u line=%02d ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 end", arch::cpu_index(), i);
    g_stress_done.fetch_add(1, MemOrder::AcqRel);
}
bool test_console_stress() {
    uint32_t others = 0;
    for (uint32_t i = 1; i < MAX_CPUS; i++)
        if (arch::g_percpu[i].state.load(MemOrder::Acquire) == arch::CpuState::Online) {
            smp_call(i, stress_lines);
            others++;
        }
    stress_lines();
    uint64_t deadline = system_time_ns() + 5000000000ull;
    while (g_stress_done.load(MemOrder::Acquire) < others + 1 && system_time_ns() < deadline) arch::cpu_relax();
    return g_stress_done.load(MemOrder::Acquire) == others + 1;
}

[[gnu::noinline]] void fault_page() {
    *reinterpret_cast<volatile uint64_t*>(0x7dead000beefull) = 1; // canonical, never mapped
}
[[gnu::noinline]] void fault_general_protection() {
    (void)*reinterpret_cast<volatile uint64_t*>(0x8000000000000000ull); // non-canonical
}
[[gnu::noinline]] void fault_invalid_opcode() { arch::raise_invalid_opcode(); }
[[gnu::noinline]] void fault_divide() { arch::raise_divide_error(); }
// Opaque to the compiler (an atomic load is never folded): the recursion is
// intended. Relaxed: nothing else changes it.
Atomic<bool> g_recurse{true};
[[gnu::noinline]] uint64_t overflow_stack(uint64_t depth) {
    if (!g_recurse.load(MemOrder::Relaxed)) return 0;
    volatile char pad[512];
    pad[0] = static_cast<char>(depth);
    return overflow_stack(depth + 1) + pad[0]; // not a tail call
}
void fault_on_this_cpu() {
    log_info("selftest fault-ap: faulting on CPU %u", arch::cpu_index());
    fault_invalid_opcode();
}

struct Test {
    const char* name;
    bool (*run)(); // nullptr for the ones that do not return
    void (*crash)();
};

void crash_ap() {
    smp_call(1, fault_on_this_cpu);
    wait_ms(5000); // CPU 1's panic stops us
}
void crash_stack() { overflow_stack(0); }
void crash_panic() { panic("selftest: panic requested"); }
// Takes two locks against their ranks (lib/lock_rank.hpp): a debug build
// panics at the second, naming both.
void crash_lock_order() {
    SpinLock inner(LockRank::Buddy);
    SpinLock outer(LockRank::Domain);
    say("selftest lock-order: taking a Domain lock while holding a Buddy lock");
    IrqLockGuard first(inner);
    IrqLockGuard second(outer);
#ifndef VIRTUE_DEBUG
    say("selftest lock-order: a release build has no rank checks");
#endif
}

const Test TESTS[] = {
    {"ticks", test_ticks, nullptr},
    {"console-stress", test_console_stress, nullptr},
    {"fault-pf", nullptr, fault_page},
    {"fault-gp", nullptr, fault_general_protection},
    {"fault-ud", nullptr, fault_invalid_opcode},
    {"fault-de", nullptr, fault_divide},
    {"fault-ap", nullptr, crash_ap},
    {"stack-overflow", nullptr, crash_stack},
    {"panic", nullptr, crash_panic},
    {"lock-order", nullptr, crash_lock_order},
};

const Test* find_test(const char* name, size_t len) {
    for (const Test& t : TESTS)
        if (strlen(t.name) == len && memcmp(t.name, name, len) == 0) return &t;
    return nullptr;
}

} // namespace

void run_selftests_and_maybe_shutdown() {
    if (!opt_selftest[0]) return;
    uint32_t passed = 0, failed = 0;
    for (const char* p = opt_selftest; *p;) {
        const char* comma = strchr(p, ',');
        size_t len = comma ? static_cast<size_t>(comma - p) : strlen(p);
        const Test* t = find_test(p, len);
        if (!t) {
            say("selftest %.*s: unknown test", static_cast<int>(len), p);
            failed++;
        } else if (t->crash) {
            say("selftest %s: expecting a fatal error", t->name);
            t->crash();
            say("selftest %s: FAIL (survived)", t->name);
            failed++;
        } else {
            bool ok = t->run();
            say("selftest %s: %s", t->name, ok ? "PASS" : "FAIL");
            (ok ? passed : failed)++;
        }
        p += len + (comma ? 1 : 0);
    }
    say("selftest: %u passed, %u failed", passed, failed);
    shutdown(failed ? ShutdownReason::Failure : ShutdownReason::Success);
}

} // namespace virtue
