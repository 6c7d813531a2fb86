// Shared by the ACPI parser's source files; not part of its public API.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "acpi/acpi.hpp"
#include "acpi/acpi_tables.hpp"

namespace virtue::acpi {

// A table that passed the generic checks: readable, 36 <= length <=
// MAX_TABLE_LENGTH, checksum good. `bytes` holds exactly `length` bytes and
// is valid until the next PhysReader::map() call.
struct Table {
    const uint8_t* bytes;
    uint32_t length;
    uint8_t revision;
    char signature[5];
};

// Record a warning about table `sig` (4 bytes, or nullptr for none).
void warn(PlatformInfo& info, Warn code, const char* sig, uint64_t value);

// Per-table decoders. Each reads only t.bytes[0, t.length) and records what
// it finds, or warnings, in `info`.
void parse_madt(const Table& t, PlatformInfo& info);
void parse_hpet(const Table& t, PlatformInfo& info);
void parse_fadt(const Table& t, PlatformInfo& info);

// Bounds-checked little-endian field read: false if [off, off + sizeof(T))
// is not inside the table.
template <typename T>
inline bool read_field(const Table& t, size_t off, T& out) {
    if (off > t.length || sizeof(T) > t.length - off) return false;
    out = layout::load<T>(t.bytes + off);
    return true;
}

} // namespace virtue::acpi
