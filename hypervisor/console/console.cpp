#include "console/console.hpp"

#include "arch/cpu.hpp"
#include "arch/percpu.hpp"
#include "lib/atomic.hpp"
#include "lib/format.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"
#include "time/clock.hpp"

namespace virtue {
namespace {

Uart16550 g_uart;
bool g_enabled = true;
LogLevel g_level = LogLevel::Info;
SpinLock g_console_lock{LockRank::Console};
// Set once by the panicking CPU after it has taken the console over (the
// others are stopped); release/acquire so a writer that sees it also sees
// the lock broken.
Atomic<bool> g_panic_mode{false};

const char* level_tag(LogLevel l) {
    switch (l) {
    case LogLevel::Error: return "ERR ";
    case LogLevel::Warning: return "WARN";
    case LogLevel::Debug: return "DBG ";
    default: return "    ";
    }
}

void write_locked(const char* s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') g_uart.put('\r');
        g_uart.put(s[i]);
    }
}

} // namespace

void console_init(const UartConfig& cfg, bool enabled) {
    g_enabled = enabled;
    g_uart.init(cfg);
}

void console_set_level(LogLevel level) { g_level = level; }
LogLevel console_level() { return g_level; }

void console_write_raw(const char* s, size_t len) {
    if (!g_enabled) return;
    if (g_panic_mode.load(MemOrder::Acquire)) {
        write_locked(s, len);
        return;
    }
    IrqLockGuard guard(g_console_lock);
    write_locked(s, len);
}

void console_print_raw(const char* fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat(line, sizeof line, fmt, ap);
    va_end(ap);
    console_write_raw(line, n < sizeof line ? n : sizeof line - 1);
}

void console_enter_panic_mode() {
    // Give a CPU that is mid-line a moment to finish, then take over.
    uint64_t flags = arch::irq_save();
    for (int i = 0; i < 2000000 && g_console_lock.is_locked(); i++) arch::cpu_relax();
    g_console_lock.force_unlock();
    g_panic_mode.store(true, MemOrder::Release);
    arch::irq_restore(flags);
}

void vlog(LogLevel level, const char* fmt, va_list ap) {
    if (level > g_level || !g_enabled) return;
    char line[512];
    uint64_t ns = clock_ready() ? system_time_ns() : 0;
    size_t n = format(line, sizeof line, "[%4lu.%06lu] c%u %s ", ns / 1000000000, (ns / 1000) % 1000000,
                      arch::cpu_index(), level_tag(level));
    if (n < sizeof line) n += vformat(line + n, sizeof line - n, fmt, ap);
    if (n >= sizeof line - 1) {
        n = sizeof line - 2; // truncated: keep the line whole
    }
    if (line[n - 1] != '\n') line[n++] = '\n';
    console_write_raw(line, n);
}

#define VIRTUE_LOG_FN(name, lvl)                                                                  \
    void name(const char* fmt, ...) {                                                             \
        va_list ap;                                                                               \
        va_start(ap, fmt);                                                                        \
        vlog(lvl, fmt, ap);                                                                       \
        va_end(ap);                                                                               \
    }
VIRTUE_LOG_FN(log_error, LogLevel::Error)
VIRTUE_LOG_FN(log_warn, LogLevel::Warning)
VIRTUE_LOG_FN(log_info, LogLevel::Info)
VIRTUE_LOG_FN(log_debug, LogLevel::Debug)
#undef VIRTUE_LOG_FN

void log(LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void console_write_domain_line(const char* prefix, const char* text, size_t len) {
    if (!g_enabled) return;
    IrqLockGuard guard(g_console_lock);
    write_locked("(", 1);
    write_locked(prefix, strlen(prefix));
    write_locked(") ", 2);
    write_locked(text, len);
    write_locked("\n", 1);
}

void console_write_domain_text(const char* prefix, const char* text, size_t len, bool& mid_line) {
    if (!g_enabled) return;
    IrqLockGuard guard(g_console_lock);
    size_t i = 0;
    while (i < len) {
        if (!mid_line) {
            write_locked("(", 1);
            write_locked(prefix, strlen(prefix));
            write_locked(") ", 2);
            mid_line = true;
        }
        size_t end = i;
        while (end < len && text[end] != '\n') end++;
        if (end < len) {
            end++; // (the newline too: the next byte starts a line)
            mid_line = false;
        }
        write_locked(text + i, end - i);
        i = end;
    }
}

size_t console_read_input(char* buf, size_t len) {
    IrqLockGuard guard(g_console_lock);
    size_t n = 0;
    while (n < len && g_uart.try_get(buf[n])) n++;
    return n;
}

} // namespace virtue
