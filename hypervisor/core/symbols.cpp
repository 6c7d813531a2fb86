#include "core/symbols.hpp"

extern "C" const char virtue_symbol_table[];
extern "C" char __text_start[], __text_end[];

namespace virtue {
namespace {
struct Entry {
    uint64_t addr;
    uint32_t name_offset;
    uint32_t pad;
};
} // namespace

SymbolHit symbol_lookup(uint64_t addr) {
    if (addr < reinterpret_cast<uint64_t>(__text_start) || addr >= reinterpret_cast<uint64_t>(__text_end))
        return {nullptr, 0};
    uint64_t count;
    __builtin_memcpy(&count, virtue_symbol_table, sizeof count);
    auto* entries = reinterpret_cast<const Entry*>(virtue_symbol_table + 8);
    const char* names = reinterpret_cast<const char*>(entries + count);
    // Binary search for the last symbol at or below addr (the table is sorted).
    uint64_t lo = 0, hi = count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (entries[mid].addr <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return {nullptr, 0};
    const Entry& e = entries[lo - 1];
    return {names + e.name_offset, addr - e.addr};
}

} // namespace virtue
