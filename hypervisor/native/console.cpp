// Native calls: the hypervisor console (console_write, console_read).
#include "console/console.hpp"
#include "native_handlers.hpp"

namespace virtue::native {
namespace {

constexpr uint64_t kConsoleIoMax = 4096; // native.toml: len's bound

// Appends bytes to the domain's partial line, writing out whole lines.
void put_domain_bytes(Domain& d, const char* s, size_t len) {
    IrqLockGuard guard(d.lock);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n' || d.line_len == kConsoleLineMax) {
            console_write_domain_line(d.name, d.line, d.line_len);
            d.line_len = 0;
            if (c == '\n') continue;
        }
        bool printable = (c >= 0x20 && c < 0x7f) || c == '\t';
        d.line[d.line_len++] = printable ? c : '?';
    }
}

} // namespace

CallResult call_console_write(UserSpan<const char> buf) {
    char copy[kConsoleIoMax];
    TRY(buf.read_all(copy));
    // A line at a time, taking pending interrupts in between: writing 4 KiB
    // to the UART takes about a millisecond under TCG, too long to keep
    // interrupts off for.
    Domain& d = caller();
    for (size_t at = 0; at < buf.size();) {
        size_t end = at;
        while (end < buf.size() && end - at < kConsoleLineMax && copy[end++] != '\n') {
        }
        put_domain_bytes(d, copy + at, end - at);
        at = end;
        if (at < buf.size()) hypercall_irq_window();
    }
    return buf.size();
}

CallResult call_console_read(UserSpan<char> buf) {
    if (!caller().is_control()) return Err::NotPermitted;
    if (!buf.writable()) return Err::Fault; // before any input is consumed
    char bytes[kConsoleIoMax];
    size_t n = console_read_input(bytes, buf.size());
    TRY(buf.write_all(bytes, n));
    return n;
}

} // namespace virtue::native
