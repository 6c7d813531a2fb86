// The first blank-separated word of a command line: how multiboot2 modules
// are named (boot configuration lookup, boot information).
#pragma once

#include <stddef.h>

namespace virtue {

struct Word {
    const char* ptr; // inside the string, not NUL-terminated
    size_t len;      // 0: no word
};

inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

inline Word first_word(const char* s) {
    while (is_blank(*s)) ++s;
    size_t n = 0;
    while (s[n] != '\0' && !is_blank(s[n])) ++n;
    return Word{s, n};
}

} // namespace virtue
