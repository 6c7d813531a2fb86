// Address-to-symbol lookup for backtraces (table embedded by the second link).
#pragma once

#include <stdint.h>

namespace virtue {

struct SymbolHit {
    const char* name; // nullptr when the address is not in any known function
    uint64_t offset;
};

SymbolHit symbol_lookup(uint64_t addr);

} // namespace virtue
