// Decoding and applying a PV guest kernel's write to one of its own page
// tables. Such tables are mapped read-only (a guest never holds a writable
// mapping of a page table: pv_page_tables.hpp), yet Linux writes their
// entries with plain instructions (the exchange of ptep_get_and_clear, the
// locked bit operations of write-protection and accessed-bit clearing) and
// relies on the hypervisor to catch the write-protection fault, check the
// new entry as mmu_update would, store it and step over the instruction.
//
// Only the forms that write one naturally sized memory operand are
// accepted (the forms Linux's generic memory-management code produces):
//   mov r, m (1/2/4/8 bytes)       88, 89
//   mov imm, m                     C6 /0, C7 /0
//   xchg r, m                      86, 87 (locked by nature)
//   cmpxchg r, m                   0F B0, 0F B1
//   and/or/xor r, m                20/21, 08/09, 30/31
//   and/or/xor imm, m              80 /4 /1 /6, 81, 83
//   bts/btr/btc imm8, m            0F BA /5 /6 /7
//   bts/btr/btc r, m               0F AB, 0F B3, 0F BB
// with the prefixes lock (F0), operand size (66) and REX. Anything else —
// a register destination, segment overrides, other opcodes, a truncated
// instruction — is refused, and the fault goes to the guest as a #PF.
//
// The memory operand's address is not computed: the fault's CR2 is where
// the instruction wrote (for bit operations with a register offset too,
// since the CPU already applied the offset's quadword part); the decoder
// still walks ModRM, SIB and displacement to learn the instruction's
// length.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"

namespace virtue::pv {

enum class PtWriteOp : uint8_t { Mov, Xchg, CmpXchg, And, Or, Xor, Bts, Btr, Btc };

inline constexpr uint8_t kNoReg = 0xff;

struct PtWrite {
    uint8_t length = 0;  // bytes of the instruction
    uint8_t size = 0;    // bytes of the memory operand: 1, 2, 4 or 8
    PtWriteOp op = PtWriteOp::Mov;
    bool locked = false; // a lock prefix (xchg is locked without one)
    uint8_t reg = kNoReg; // register operand (x86 numbering: 0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, ... 15 r15)
    uint64_t imm = 0;    // immediate, sign-extended to the operand size as the CPU does
};

// Decodes the instruction at `bytes` (`avail` of them readable).
// Err::InvalidArgument: not a form this emulation accepts (or truncated).
Result<PtWrite> decode_pt_write(const uint8_t* bytes, size_t avail);

// The guest's general registers (x86 numbering) and flags, which some
// forms read and write.
struct PtWriteRegs {
    uint64_t gpr[16] = {};
    uint64_t rflags = 0;
};

// Applies a decoded write to the operand's old value (`size` bytes,
// zero-extended): returns the value to store (the operand's new bytes,
// zero-extended), and updates the registers and arithmetic flags as the
// instruction would. `old` must be read and the result stored atomically
// by the caller (compare-exchange on the whole entry).
uint64_t apply_pt_write(const PtWrite& w, uint64_t old, PtWriteRegs& regs);

// An 8-byte page-table entry with `size` bytes at byte `offset` replaced by
// `value` (offset + size <= 8), and the inverse.
uint64_t merge_into_entry(uint64_t entry, unsigned offset, unsigned size, uint64_t value);
uint64_t extract_from_entry(uint64_t entry, unsigned offset, unsigned size);

} // namespace virtue::pv
