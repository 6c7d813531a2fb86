// The C memory and string functions a native domain needs: the compiler emits
// calls to memcpy/memmove/memset/memcmp itself, and Debian's libfdt.a needs
// memchr, memcmp, memcpy, memmove, memset, strchr, strlen, strnlen, strrchr
// and strtoul. Authors get the declarations from <string.h>/<stdlib.h>.
//
// No C library headers here: glibc's declarations carry attributes that would
// clash with these definitions. The library is built with
// -fno-tree-loop-distribute-patterns (sdk.mk) so that GCC does not turn the
// loops below back into calls to themselves.
#include <stddef.h>
#include <stdint.h>

extern "C" {

// Bulk work in 8-byte steps: QEMU's TCG runs `rep movsb/stosb` a byte at a
// time, so large copies and clears are several times faster as movsq/stosq.
void* memcpy(void* dst, const void* src, size_t n) {
    void* ret = dst;
    size_t quads = n / 8, rest = n % 8;
    asm volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(quads) : : "memory");
    asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(rest) : : "memory");
    return ret;
}

void* memmove(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    if (d == s || n == 0) return dst;
    // Forward copy is safe unless dst starts inside [src, src + n).
    if (reinterpret_cast<uintptr_t>(d) - reinterpret_cast<uintptr_t>(s) >= n) return memcpy(dst, src, n);
    for (size_t i = n; i-- > 0;) d[i] = s[i];
    return dst;
}

void* memset(void* dst, int c, size_t n) {
    void* ret = dst;
    uint64_t pattern = 0x0101010101010101ull * static_cast<uint8_t>(c);
    size_t quads = n / 8, rest = n % 8;
    asm volatile("rep stosq" : "+D"(dst), "+c"(quads) : "a"(pattern) : "memory");
    asm volatile("rep stosb" : "+D"(dst), "+c"(rest) : "a"(pattern) : "memory");
    return ret;
}

int memcmp(const void* a, const void* b, size_t n) {
    auto* x = static_cast<const unsigned char*>(a);
    auto* y = static_cast<const unsigned char*>(b);
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

void* memchr(const void* s, int c, size_t n) {
    auto* p = static_cast<const unsigned char*>(s);
    for (size_t i = 0; i < n; i++)
        if (p[i] == static_cast<unsigned char>(c)) return const_cast<unsigned char*>(p + i);
    return nullptr;
}

size_t strlen(const char* s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

size_t strnlen(const char* s, size_t max) {
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

int strcmp(const char* a, const char* b) {
    for (;; a++, b++) {
        auto x = static_cast<unsigned char>(*a), y = static_cast<unsigned char>(*b);
        if (x != y) return x < y ? -1 : 1;
        if (x == 0) return 0;
    }
}

int strncmp(const char* a, const char* b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x != y) return x < y ? -1 : 1;
        if (x == 0) return 0;
    }
    return 0;
}

// Like C: searching for '\0' finds the terminator.
char* strchr(const char* s, int c) {
    for (;; s++) {
        if (*s == static_cast<char>(c)) return const_cast<char*>(s);
        if (*s == '\0') return nullptr;
    }
}

char* strrchr(const char* s, int c) {
    const char* last = nullptr;
    for (;; s++) {
        if (*s == static_cast<char>(c)) last = s;
        if (*s == '\0') return const_cast<char*>(last);
    }
}

// C semantics without errno: leading blanks, optional sign (a '-' negates the
// result in unsigned arithmetic), base 0 (0x/0 prefixes), 2..36; saturates at
// ULONG_MAX on overflow; *end points past the last digit used (or at s when
// no digits were found).
unsigned long strtoul(const char* s, char** end, int base) {
    const char* p = s;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
    bool negative = false;
    if (*p == '+' || *p == '-') negative = *p++ == '-';
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'z') return c - 'a' + 10;
        if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
        return 99;
    };
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && digit(p[2]) < 16) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = p[0] == '0' ? 8 : 10;
    }
    if (base < 2 || base > 36) {
        if (end) *end = const_cast<char*>(s);
        return 0;
    }
    unsigned long value = 0;
    bool overflow = false, any = false;
    for (; digit(*p) < base; p++) {
        any = true;
        unsigned long d = static_cast<unsigned long>(digit(*p));
        if (value > (~0ul - d) / static_cast<unsigned long>(base)) overflow = true;
        else value = value * static_cast<unsigned long>(base) + d;
    }
    if (end) *end = const_cast<char*>(any ? p : s);
    if (overflow) return ~0ul;
    return negative ? 0 - value : value;
}

} // extern "C"
