// Boot-information access over libfdt (the tree layout is in README.md).
// Thread 0 records the tree and splits the bootargs before any constructor
// runs; afterwards everything here only reads, so any thread may call it.
#include <libfdt.h>

#include "internal.hpp"
#include "virtue/sdk.hpp"

namespace virtue {
namespace {

const void* g_fdt = nullptr;
size_t g_fdt_size = 0;
const char* g_name = "";
const char* g_bootargs = "";

// The bootargs' words, each NUL-terminated, one after the other.
char g_words_static[1024];
char* g_words = g_words_static;
size_t g_word_count = 0;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A property holding one NUL-terminated string, or fallback.
const char* string_prop(int node, const char* name, const char* fallback) {
    if (g_fdt == nullptr || node < 0) return fallback;
    int len = 0;
    auto* s = static_cast<const char*>(fdt_getprop(g_fdt, node, name, &len));
    if (s == nullptr || len <= 0 || s[len - 1] != '\0') return fallback;
    return s;
}

int node(const char* path) { return g_fdt == nullptr ? -1 : fdt_path_offset(g_fdt, path); }

uint64_t read_be64(const void* p) {
    fdt64_t v;
    __builtin_memcpy(&v, p, sizeof v); // cells are only 4-byte aligned
    return fdt64_to_cpu(v);
}

void split_words() {
    size_t len = __builtin_strlen(g_bootargs);
    if (len + 1 > sizeof g_words_static) {
        g_words = static_cast<char*>(malloc(len + 1));
        if (g_words == nullptr) panic("bootargs too long (%zu bytes)", len);
    }
    size_t out = 0;
    for (const char* p = g_bootargs; *p;) {
        while (is_blank(*p)) p++;
        if (*p == '\0') break;
        while (*p && !is_blank(*p)) g_words[out++] = *p++;
        g_words[out++] = '\0';
        g_word_count++;
    }
}

// The word "<key>=..." (returns the value) or "<key>" (returns its end).
const char* match(const char* word, const char* key) {
    size_t n = __builtin_strlen(key);
    if (__builtin_strncmp(word, key, n) != 0) return nullptr;
    if (word[n] == '=') return word + n + 1;
    return word[n] == '\0' ? word + n : nullptr;
}

} // namespace

namespace detail {

void bootinfo_init(const void* fdt, uint64_t size) {
    if (fdt != nullptr && size >= sizeof(fdt_header) && fdt_check_header(fdt) == 0 && fdt_totalsize(fdt) <= size) {
        g_fdt = fdt;
        g_fdt_size = fdt_totalsize(fdt);
    } else {
        print("sdk: no valid boot information at %p (%lu bytes)\n", fdt, static_cast<unsigned long>(size));
    }
    g_name = string_prop(node("/domain"), "name", "");
    g_bootargs = string_prop(node("/chosen"), "bootargs", "");
    split_words();
}

} // namespace detail

const void* boot_info() { return g_fdt; }
size_t boot_info_size() { return g_fdt_size; }
const char* domain_name() { return g_name; }
const char* boot_args() { return g_bootargs; }

size_t arg_count() { return g_word_count; }

const char* arg(size_t index) {
    if (index >= g_word_count) return nullptr;
    const char* w = g_words;
    for (; index > 0; index--) w += __builtin_strlen(w) + 1;
    return w;
}

bool has_arg(const char* word) {
    for (size_t i = 0; i < g_word_count; i++)
        if (match(arg(i), word) != nullptr) return true;
    return false;
}

const char* arg_value(const char* key) {
    for (size_t i = 0; i < g_word_count; i++) {
        const char* w = arg(i);
        const char* v = match(w, key);
        if (v != nullptr && v > w && v[-1] == '=') return v; // "key=value" or "key="
    }
    return nullptr;
}

bool has_privilege(const char* name) {
    int n = node("/domain");
    if (n < 0) return false;
    int len = 0;
    auto* list = static_cast<const char*>(fdt_getprop(g_fdt, n, "privileges", &len));
    return list != nullptr && len > 0 && fdt_stringlist_contains(list, len, name) != 0;
}

size_t module_count() {
    int modules = node("/modules");
    if (modules < 0) return 0;
    size_t count = 0;
    int sub;
    fdt_for_each_subnode(sub, g_fdt, modules) count++;
    return count;
}

bool module(size_t index, BootModule& out) {
    int modules = node("/modules");
    if (modules < 0) return false;
    int sub;
    fdt_for_each_subnode(sub, g_fdt, modules) {
        if (index-- != 0) continue;
        out.name = string_prop(sub, "name", "");
        out.cmdline = string_prop(sub, "cmdline", "");
        int len = 0;
        auto* reg = static_cast<const unsigned char*>(fdt_getprop(g_fdt, sub, "reg", &len));
        if (reg != nullptr && len == 16) {
            out.phys_start = read_be64(reg);
            out.size = read_be64(reg + 8);
        } else {
            out.phys_start = out.size = 0;
        }
        return true;
    }
    return false;
}

} // namespace virtue
