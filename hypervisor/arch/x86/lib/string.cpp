// The bulk memory functions of lib/string.hpp, in x86 string instructions.
#include "lib/string.hpp"

#include <stdint.h>

extern "C" {

// Bulk work in 8-byte steps: QEMU's TCG runs `rep movsb/stosb` a byte at a
// time, so page copies and clears are several times faster as movsq/stosq.
void* memcpy(void* dst, const void* src, size_t n) {
    void* ret = dst;
    size_t quads = n / 8, rest = n % 8;
    asm volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(quads) : : "memory");
    asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(rest) : : "memory");
    return ret;
}

void* memset(void* dst, int c, size_t n) {
    void* ret = dst;
    uint64_t pattern = 0x0101010101010101ull * static_cast<uint8_t>(c);
    size_t quads = n / 8, rest = n % 8;
    asm volatile("rep stosq" : "+D"(dst), "+c"(quads) : "a"(pattern) : "memory");
    asm volatile("rep stosb" : "+D"(dst), "+c"(rest) : "a"(pattern) : "memory");
    return ret;
}
}
