// Output of the PV test kernel: whole lines through
// HYPERVISOR_console_io(CONSOLEIO_write), one hypercall per line, so that a
// line never interleaves with the hypervisor's own output.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace pv {

// printf-like: %s %c %d %u %x %p, with l/ll for 64 bits (%lx, %ld, %lu)
// and a width with 0 padding for %x (%08x, %016lx). Each call ends in
// whole lines: text after the last '\n' is flushed with a '\n' added.
void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* fmt, va_list ap);

// Into buf (always NUL-terminated); returns the length written.
size_t format(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
size_t vformat(char* buf, size_t size, const char* fmt, va_list ap);

} // namespace pv
