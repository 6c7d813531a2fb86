// The C memory functions GCC may call on its own, even in freestanding code
// (struct copies, zeroing), and the command-line helpers (boot.hpp). Built
// with -fno-tree-loop-distribute-patterns so that these loops are not
// turned back into calls to themselves.
#include <stddef.h>

extern "C" {

void* memset(void* dst, int c, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    for (size_t i = 0; i < n; i++) d[i] = static_cast<unsigned char>(c);
    return dst;
}

void* memcpy(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    for (size_t i = 0; i < n; i++) d[i] = s[i];
    return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    if (d < s) {
        for (size_t i = 0; i < n; i++) d[i] = s[i];
    } else {
        for (size_t i = n; i > 0; i--) d[i - 1] = s[i - 1];
    }
    return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
    auto* x = static_cast<const unsigned char*>(a);
    auto* y = static_cast<const unsigned char*>(b);
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

} // extern "C"

namespace pv {

const char* find_arg(const char* cmdline, const char* key) {
    for (const char* p = cmdline; *p; p++) {
        if (p != cmdline && p[-1] != ' ') continue;
        const char* k = key;
        const char* q = p;
        while (*k && *q == *k) k++, q++;
        if (!*k) return q;
    }
    return nullptr;
}

unsigned long parse_number(const char* p) {
    unsigned long n = 0;
    while (*p >= '0' && *p <= '9') n = n * 10 + static_cast<unsigned long>(*p++ - '0');
    return n;
}

} // namespace pv
