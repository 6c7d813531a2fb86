// x86-64 page-table entries (4-level paging), Intel SDM vol. 3 §4.5.
//
// Level numbering used throughout: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT.
// A "leaf" is a 4 KiB entry at level 1 or a PS entry at level 2 (2 MiB) or
// level 3 (1 GiB).
#pragma once

#include <stdint.h>

#include <compare> // lib/addr.hpp uses <=> without including it

#include "lib/addr.hpp"

namespace virtue {

namespace pte {
inline constexpr uint64_t P = 1ull << 0;    // present
inline constexpr uint64_t RW = 1ull << 1;   // writable
inline constexpr uint64_t US = 1ull << 2;   // user accessible
inline constexpr uint64_t PWT = 1ull << 3;  // write-through
inline constexpr uint64_t PCD = 1ull << 4;  // cache disable
inline constexpr uint64_t A = 1ull << 5;    // accessed
inline constexpr uint64_t D = 1ull << 6;    // dirty (leaves)
inline constexpr uint64_t PS = 1ull << 7;   // page size (levels 2, 3)
inline constexpr uint64_t G = 1ull << 8;    // global (leaves)
inline constexpr uint64_t PAT_4K = 1ull << 7;     // PAT bit of a 4 KiB leaf
inline constexpr uint64_t PAT_LARGE = 1ull << 12; // PAT bit of a 2M/1G leaf
inline constexpr uint64_t SW0 = 1ull << 9;  // bits 9-11: ignored by the MMU,
inline constexpr uint64_t SW1 = 1ull << 10; // free for software (the native
inline constexpr uint64_t SW2 = 1ull << 11; // MMU keeps mapping limits there)
inline constexpr uint64_t NX = 1ull << 63;  // no execute (needs EFER.NXE)
inline constexpr uint64_t ADDR_MASK = 0x000FFFFFFFFFF000ull;

// Attribute bits a caller may ask for on a leaf; P is implied.
inline constexpr uint64_t LEAF_ATTRS = P | RW | US | PWT | PCD | A | D | G | SW0 | SW1 | SW2 | NX;

// Architectural maximum physical address width (MAXPHYADDR <= 52).
inline constexpr unsigned MAX_PHYS_BITS = 52;
} // namespace pte

// Leaf attributes: a subset of pte::LEAF_ATTRS (no address, no PS, no PAT).
class PteFlags {
  public:
    constexpr PteFlags() = default;
    constexpr explicit PteFlags(uint64_t bits) : bits_(bits) {}
    constexpr uint64_t raw() const { return bits_; }
    constexpr bool has(uint64_t bit) const { return (bits_ & bit) == bit; }
    constexpr bool valid() const { return (bits_ & ~pte::LEAF_ATTRS) == 0; }
    friend constexpr PteFlags operator|(PteFlags a, PteFlags b) { return PteFlags(a.bits_ | b.bits_); }
    friend constexpr bool operator==(PteFlags a, PteFlags b) = default;

  private:
    uint64_t bits_ = 0;
};

// Shift of the address bits one entry at `level` translates (12, 21, 30, 39).
constexpr unsigned level_shift(unsigned level) { return 12 + 9 * (level - 1); }
constexpr uint64_t level_span(unsigned level) { return uint64_t{1} << level_shift(level); }
constexpr unsigned level_index(uint64_t va, unsigned level) {
    return static_cast<unsigned>((va >> level_shift(level)) & 511);
}

inline constexpr uint64_t PAGE_SIZE_4K = level_span(1);
inline constexpr uint64_t PAGE_SIZE_2M = level_span(2);
inline constexpr uint64_t PAGE_SIZE_1G = level_span(3);

// Bits 63:47 all equal (48-bit virtual addresses).
constexpr bool is_canonical(uint64_t va) {
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1FFFF;
}

// One entry, as stored in a table.
class Pte {
  public:
    constexpr Pte() = default;
    constexpr explicit Pte(uint64_t raw) : raw_(raw) {}
    constexpr uint64_t raw() const { return raw_; }

    constexpr bool present() const { return raw_ & pte::P; }
    // A PS entry at level 2 or 3 (bit 7 is PAT in a level-1 entry and
    // reserved in a PML4 entry).
    constexpr bool is_large(unsigned level) const {
        return (level == 2 || level == 3) && (raw_ & pte::PS);
    }
    constexpr bool is_leaf(unsigned level) const { return level == 1 || is_large(level); }

    // The frame a table pointer or 4 KiB leaf names.
    constexpr PhysAddr table() const { return PhysAddr(raw_ & pte::ADDR_MASK); }
    // The frame a leaf at `level` maps (PAT bit excluded for large leaves).
    constexpr PhysAddr leaf_addr(unsigned level) const {
        return PhysAddr(raw_ & pte::ADDR_MASK & ~(level_span(level) - 1));
    }
    // Leaf attributes in the common format (PS and PAT left out).
    constexpr PteFlags leaf_flags() const { return PteFlags(raw_ & pte::LEAF_ATTRS); }

    static constexpr Pte make_leaf(PhysAddr pa, PteFlags f, unsigned level) {
        return Pte(pa.raw() | f.raw() | pte::P | (level > 1 ? pte::PS : 0));
    }
    static constexpr Pte make_table(PhysAddr table, uint64_t attrs) {
        return Pte(table.raw() | attrs | pte::P);
    }

  private:
    uint64_t raw_ = 0;
};

} // namespace virtue
