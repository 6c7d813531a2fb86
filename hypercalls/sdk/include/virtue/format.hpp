// Bounded printf-style formatting for native domains (pure: no calls into the
// hypervisor, so the host unit tests run it against the C library's snprintf).
//
// Conversions: %d %i %u %x %X %o %p %s %c %%; length modifiers hh h l ll z j t;
// flags '-' '0' '+' ' ' '#'; field width and precision, either may be '*'.
// Behaves like C's snprintf for these: writes at most size bytes including the
// terminating NUL (always NUL-terminates when size > 0; buf may be null when
// size is 0) and returns the length the whole output would have had.
// %p prints 0x<hex> (or "(nil)"), %s of a null pointer prints "(null)", an
// unknown conversion is copied through as written. No floating point.
//
// This header is reachable by relative include from the host tests, so it
// must not depend on the SDK's include path or the generated headers.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace virtue {

int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap);
int snprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

} // namespace virtue
