// The hypervisor console: leveled, line-atomic logging to COM1.
//
// Each call formats one whole message into a local buffer and writes it under
// the console lock, so lines from different CPUs never interleave mid-line.
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "console/serial.hpp"
#include "core/log_level.hpp"

namespace virtue {

void console_init(const UartConfig& cfg, bool enabled);
void console_set_level(LogLevel level);
LogLevel console_level();

void vlog(LogLevel level, const char* fmt, va_list ap);
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void log_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Panic path: take the console even if a stopped CPU holds its lock.
void console_enter_panic_mode();
// Raw write of text that is already formatted (no prefix, no level filter).
void console_write_raw(const char* s, size_t len);
// Formatted raw write (no prefix, no level filter): fault dumps, verdicts.
void console_print_raw(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// A domain's line: "(prefix) text\n", written whole under the console lock.
void console_write_domain_line(const char* prefix, const char* text, size_t len);

// The text of the domain whose terminal the console is (it reads the
// console's input): written as it comes, so that a prompt shows before its
// line ends, with "(prefix) " at the start of each line; *mid_line says
// whether a line of it is open (kept by the caller between writes).
void console_write_domain_text(const char* prefix, const char* text, size_t len, bool& mid_line);

// Bytes typed on the console, without waiting; returns how many were stored.
size_t console_read_input(char* buf, size_t len);

} // namespace virtue
