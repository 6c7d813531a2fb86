// Decoding and applying a PV guest kernel's write to its own page tables
// (pv_pt_write.hpp says which forms and why).
#include "pv_pt_write.hpp"

namespace virtue::pv {
namespace {

constexpr size_t kMaxInstruction = 15; // the architecture's limit

constexpr uint64_t kCF = 1u << 0, kPF = 1u << 2, kAF = 1u << 4, kZF = 1u << 6, kSF = 1u << 7, kOF = 1u << 11;
constexpr uint64_t kArithFlags = kCF | kPF | kAF | kZF | kSF | kOF;

constexpr uint64_t mask_of(unsigned size) { return size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1; }
constexpr uint64_t sign_bit(unsigned size) { return uint64_t{1} << (8 * size - 1); }

constexpr uint64_t sign_extend(uint64_t v, unsigned from_bytes, unsigned to_size) {
    if (from_bytes < 8 && (v & (uint64_t{1} << (8 * from_bytes - 1)))) v |= ~mask_of(from_bytes);
    return v & mask_of(to_size);
}

// A write of `size` bytes to a general register: 4-byte writes clear the
// upper half, 1- and 2-byte writes keep the rest.
constexpr uint64_t write_reg(uint64_t reg, uint64_t value, unsigned size) {
    if (size == 8) return value;
    if (size == 4) return value & 0xffffffffu;
    return (reg & ~mask_of(size)) | (value & mask_of(size));
}

constexpr bool even_parity(uint64_t v) { return (__builtin_popcount(static_cast<unsigned>(v & 0xff)) & 1) == 0; }

// SF, ZF, PF of a result; CF and OF as given; AF cleared (undefined for
// the logic operations, which is what use this with CF = OF = 0).
uint64_t result_flags(uint64_t result, unsigned size, bool cf, bool of) {
    uint64_t f = 0;
    if ((result & mask_of(size)) == 0) f |= kZF;
    if (result & sign_bit(size)) f |= kSF;
    if (even_parity(result)) f |= kPF;
    if (cf) f |= kCF;
    if (of) f |= kOF;
    return f;
}

struct Cursor {
    const uint8_t* bytes;
    size_t avail;
    size_t at = 0;
    bool take(uint8_t& b) {
        if (at >= avail || at >= kMaxInstruction) return false;
        b = bytes[at++];
        return true;
    }
    bool skip(size_t n) {
        if (at + n > avail || at + n > kMaxInstruction) return false;
        at += n;
        return true;
    }
    bool take_imm(unsigned n, uint64_t& v) {
        if (at + n > avail || at + n > kMaxInstruction) return false;
        v = 0;
        for (unsigned i = 0; i < n; i++) v |= uint64_t{bytes[at + i]} << (8 * i);
        at += n;
        return true;
    }
};

} // namespace

Result<PtWrite> decode_pt_write(const uint8_t* bytes, size_t avail) {
    Cursor c{bytes, avail};
    PtWrite w;
    bool opsize16 = false;
    uint8_t rex = 0, b = 0;
    // Prefixes: lock and operand size, then at most one REX right before
    // the opcode. Segment overrides and the rest are refused.
    for (;;) {
        if (!c.take(b)) return Err::InvalidArgument;
        if (b == 0xf0) w.locked = true;
        else if (b == 0x66) opsize16 = true;
        else break;
    }
    if ((b & 0xf0) == 0x40) {
        rex = b;
        if (!c.take(b)) return Err::InvalidArgument;
    }
    const bool rex_w = rex & 8, rex_r = rex & 4;
    uint8_t op2 = 0;
    if (b == 0x0f && !c.take(op2)) return Err::InvalidArgument;

    // Operand size of the non-byte forms.
    const unsigned wide = rex_w ? 8 : opsize16 ? 2 : 4;
    enum class Src : uint8_t { Reg, Imm8, ImmWide, ImmBitIndex };
    Src src = Src::Reg;
    bool needs_group = false; // the ModRM reg field picks the operation
    unsigned size = wide;
    switch (b) {
    case 0x88: size = 1; [[fallthrough]];
    case 0x89: w.op = PtWriteOp::Mov; break;
    case 0x86: size = 1; [[fallthrough]];
    case 0x87: w.op = PtWriteOp::Xchg; break;
    case 0x20: size = 1; [[fallthrough]];
    case 0x21: w.op = PtWriteOp::And; break;
    case 0x08: size = 1; [[fallthrough]];
    case 0x09: w.op = PtWriteOp::Or; break;
    case 0x30: size = 1; [[fallthrough]];
    case 0x31: w.op = PtWriteOp::Xor; break;
    case 0xc6: size = 1, src = Src::Imm8, needs_group = true; break;
    case 0xc7: src = Src::ImmWide, needs_group = true; break;
    case 0x80: size = 1, src = Src::Imm8, needs_group = true; break;
    case 0x81: src = Src::ImmWide, needs_group = true; break;
    case 0x83: src = Src::Imm8, needs_group = true; break;
    case 0x0f:
        switch (op2) {
        case 0xb0: size = 1; [[fallthrough]];
        case 0xb1: w.op = PtWriteOp::CmpXchg; break;
        case 0xab: w.op = PtWriteOp::Bts; break;
        case 0xb3: w.op = PtWriteOp::Btr; break;
        case 0xbb: w.op = PtWriteOp::Btc; break;
        case 0xba: src = Src::ImmBitIndex, needs_group = true; break;
        default: return Err::InvalidArgument;
        }
        break;
    default: return Err::InvalidArgument;
    }

    uint8_t modrm = 0;
    if (!c.take(modrm)) return Err::InvalidArgument;
    const unsigned mod = modrm >> 6, field = (modrm >> 3) & 7, rm = modrm & 7;
    if (mod == 3) return Err::InvalidArgument; // a register destination: no memory write
    if (needs_group) {
        if (b == 0xc6 || b == 0xc7) {
            if (field != 0) return Err::InvalidArgument;
            w.op = PtWriteOp::Mov;
        } else if (b == 0x0f) { // 0F BA: bt (4) only reads
            if (field == 5) w.op = PtWriteOp::Bts;
            else if (field == 6) w.op = PtWriteOp::Btr;
            else if (field == 7) w.op = PtWriteOp::Btc;
            else return Err::InvalidArgument;
        } else { // 80, 81, 83
            if (field == 1) w.op = PtWriteOp::Or;
            else if (field == 4) w.op = PtWriteOp::And;
            else if (field == 6) w.op = PtWriteOp::Xor;
            else return Err::InvalidArgument;
        }
    } else {
        w.reg = static_cast<uint8_t>(field | (rex_r ? 8 : 0));
        // Without REX, byte registers 4-7 are AH, CH, DH, BH: never used
        // on page-table entries, so not emulated.
        if (size == 1 && !rex && field >= 4) return Err::InvalidArgument;
    }

    // The rest of the memory operand: SIB, displacement.
    unsigned base = rm;
    if (rm == 4) {
        uint8_t sib = 0;
        if (!c.take(sib)) return Err::InvalidArgument;
        base = sib & 7;
    }
    size_t disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
    if (mod == 0 && (rm == 5 || (rm == 4 && base == 5))) disp = 4; // rip-relative, or no base
    if (!c.skip(disp)) return Err::InvalidArgument;

    uint64_t imm = 0;
    switch (src) {
    case Src::Reg: break;
    case Src::Imm8:
    case Src::ImmBitIndex:
        if (!c.take_imm(1, imm)) return Err::InvalidArgument;
        w.imm = src == Src::Imm8 ? sign_extend(imm, 1, size) : imm;
        break;
    case Src::ImmWide: {
        const unsigned n = size == 2 ? 2 : 4; // 64-bit forms take a sign-extended imm32
        if (!c.take_imm(n, imm)) return Err::InvalidArgument;
        w.imm = sign_extend(imm, n, size);
        break;
    }
    }
    w.size = static_cast<uint8_t>(size);
    w.length = static_cast<uint8_t>(c.at);
    if (w.op == PtWriteOp::Xchg) w.locked = true;
    return w;
}

uint64_t apply_pt_write(const PtWrite& w, uint64_t old, PtWriteRegs& regs) {
    const unsigned size = w.size;
    const uint64_t mask = mask_of(size);
    old &= mask;
    const uint64_t src = (w.reg != kNoReg ? regs.gpr[w.reg] : w.imm) & mask;
    auto set_flags = [&](uint64_t f) { regs.rflags = (regs.rflags & ~kArithFlags) | f; };
    switch (w.op) {
    case PtWriteOp::Mov: return src;
    case PtWriteOp::Xchg:
        regs.gpr[w.reg] = write_reg(regs.gpr[w.reg], old, size);
        return src;
    case PtWriteOp::CmpXchg: {
        // Compares the accumulator with the operand, as CMP does.
        const uint64_t acc = regs.gpr[0] & mask;
        const uint64_t diff = (acc - old) & mask;
        const bool of = ((acc ^ old) & (acc ^ diff)) & sign_bit(size);
        uint64_t f = result_flags(diff, size, acc < old, of);
        if ((acc ^ old ^ diff) & 0x10) f |= kAF;
        set_flags(f);
        if (acc == old) return src;
        regs.gpr[0] = write_reg(regs.gpr[0], old, size);
        return old; // the CPU writes the operand back unchanged
    }
    case PtWriteOp::And:
    case PtWriteOp::Or:
    case PtWriteOp::Xor: {
        const uint64_t r = w.op == PtWriteOp::And ? old & src : w.op == PtWriteOp::Or ? old | src : old ^ src;
        set_flags(result_flags(r, size, false, false));
        return r;
    }
    case PtWriteOp::Bts:
    case PtWriteOp::Btr:
    case PtWriteOp::Btc: {
        // The bit within the operand the CPU wrote (CR2 already names the
        // operand a register offset selected).
        const uint64_t bit = uint64_t{1} << (src & (8 * size - 1));
        regs.rflags = (regs.rflags & ~kCF) | ((old & bit) ? kCF : 0);
        if (w.op == PtWriteOp::Bts) return old | bit;
        if (w.op == PtWriteOp::Btr) return old & ~bit;
        return old ^ bit;
    }
    }
    return old;
}

uint64_t merge_into_entry(uint64_t entry, unsigned offset, unsigned size, uint64_t value) {
    const uint64_t m = mask_of(size) << (8 * offset);
    return (entry & ~m) | ((value << (8 * offset)) & m);
}

uint64_t extract_from_entry(uint64_t entry, unsigned offset, unsigned size) {
    return (entry >> (8 * offset)) & mask_of(size);
}

} // namespace virtue::pv
