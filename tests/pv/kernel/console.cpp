#include "console.hpp"

#include <stdint.h>

#include "hypercall.hpp"

namespace pv {
namespace {

struct Out {
    char* buf;
    size_t size, len = 0;
    void put(char c) {
        if (len + 1 < size) buf[len] = c;
        len++;
    }
};

void put_unsigned(Out& o, uint64_t v, unsigned base, unsigned width, char pad) {
    char digits[24];
    unsigned n = 0;
    do {
        unsigned d = static_cast<unsigned>(v % base);
        digits[n++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    while (width > n) {
        o.put(pad);
        width--;
    }
    while (n > 0) o.put(digits[--n]);
}

} // namespace

size_t vformat(char* buf, size_t size, const char* fmt, va_list ap) {
    Out o{buf, size};
    for (const char* p = fmt; *p; p++) {
        if (*p != '%') {
            o.put(*p);
            continue;
        }
        p++;
        char pad = ' ';
        if (*p == '0') {
            pad = '0';
            p++;
        }
        unsigned width = 0;
        while (*p >= '0' && *p <= '9') width = width * 10 + static_cast<unsigned>(*p++ - '0');
        unsigned longs = 0;
        while (*p == 'l') {
            longs++;
            p++;
        }
        switch (*p) {
        case 'd': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
            if (v < 0) o.put('-');
            put_unsigned(o, mag, 10, width, pad);
            break;
        }
        case 'u':
            put_unsigned(o, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width, pad);
            break;
        case 'x':
            put_unsigned(o, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width, pad);
            break;
        case 'p':
            o.put('0');
            o.put('x');
            put_unsigned(o, reinterpret_cast<uint64_t>(va_arg(ap, void*)), 16, 0, ' ');
            break;
        case 'c':
            o.put(static_cast<char>(va_arg(ap, int)));
            break;
        case 's': {
            const char* s = va_arg(ap, const char*);
            for (s = s ? s : "(null)"; *s; s++) o.put(*s);
            break;
        }
        case '%':
            o.put('%');
            break;
        default: // unknown conversion: show it as written
            o.put('%');
            if (*p) o.put(*p);
            else p--;
            break;
        }
    }
    if (size > 0) buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len < size ? o.len : size - 1;
}

size_t format(char* buf, size_t size, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void vprint(const char* fmt, va_list ap) {
    char buf[1024];
    size_t len = vformat(buf, sizeof buf - 1, fmt, ap);
    if (len == 0 || buf[len - 1] != '\n') buf[len++] = '\n';
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n') continue;
        (void)console_io(CONSOLEIO_write, i + 1 - start, buf + start);
        start = i + 1;
    }
}

void print(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}

} // namespace pv
