// Native calls: the hypervisor console (console_write, console_read).
#include "console/console.hpp"
#include "native_handlers.hpp"

namespace virtue::native {
namespace {

constexpr uint64_t kConsoleIoMax = 4096; // native.toml: len's bound

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
        domain_console_put(d, copy + at, end - at);
        at = end;
        if (at < buf.size()) hypercall_irq_window();
    }
    return buf.size();
}

CallResult call_console_read(UserSpan<char> buf) {
    if (!caller().is_control()) return Err::NotPermitted;
    if (!buf.writable()) return Err::Fault; // before any input is consumed
    if (!domain_reads_console_input(caller())) return 0; // (another domain has `console-input`)
    char bytes[kConsoleIoMax];
    size_t n = console_read_input(bytes, buf.size());
    TRY(buf.write_all(bytes, n));
    return n;
}

} // namespace virtue::native
