// print / panic: format into a local buffer, then ONE console_write.
#include "virtue/sdk.hpp"

namespace virtue {
namespace {

constexpr size_t kPrintBuffer = 1024;

int write_formatted(const char* prefix, const char* fmt, va_list ap, bool want_newline) {
    char buf[kPrintBuffer];
    size_t pos = 0;
    for (; prefix[pos]; pos++) buf[pos] = prefix[pos];
    int n = vsnprintf(buf + pos, sizeof buf - pos, fmt, ap);
    if (n < 0) n = 0;
    size_t len = pos + static_cast<size_t>(n);
    if (len >= sizeof buf) { // cut: mark it and keep the line terminated
        len = sizeof buf - 1;
        buf[len - 4] = '.', buf[len - 3] = '.', buf[len - 2] = '.', buf[len - 1] = '\n';
    } else if (want_newline && (len == 0 || buf[len - 1] != '\n')) {
        if (len + 1 >= sizeof buf) len--;
        buf[len++] = '\n';
    }
    if (len == 0) return 0;
    return static_cast<int>(raw::console_write(buf, len)); // bytes written or a negated errno
}

} // namespace

int vprint(const char* fmt, va_list ap) { return write_formatted("", fmt, ap, false); }

int print(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vprint(fmt, ap);
    va_end(ap);
    return r;
}

void panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    write_formatted("panic: ", fmt, ap, true);
    va_end(ap);
    sys::exit(-1);
}

} // namespace virtue
