// printf-style formatting into a bounded buffer (no allocation, no floats).
// Supports %d %i %u %x %X %o %c %s %p %% with flags '-', '0', width,
// precision for strings, and length modifiers hh h l ll z.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace virtue {

// Always NUL-terminates when size > 0; returns the length that the full
// output would have had (like vsnprintf), so truncation is detectable.
size_t vformat(char* buf, size_t size, const char* fmt, va_list ap);
size_t format(char* buf, size_t size, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

} // namespace virtue
