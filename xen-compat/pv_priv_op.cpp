// Decoding PV guest kernels' privileged instructions (pv_priv_op.hpp).
#include "pv_priv_op.hpp"

namespace virtue::xen {

Result<PrivInsn> decode_priv_op(const uint8_t* b, size_t avail) {
    PrivInsn in;
    size_t at = 0;
    auto take = [&](uint8_t& v) {
        if (at >= avail || at >= 15) return false;
        v = b[at++];
        return true;
    };
    // The forced-emulation CPUID: the whole 7-byte sequence.
    if (avail >= 7 && b[0] == 0x0f && b[1] == 0x0b && b[2] == 'x' && b[3] == 'e' && b[4] == 'n' && b[5] == 0x0f &&
        b[6] == 0xa2) {
        in.op = PrivOp::Cpuid;
        in.length = 7;
        return in;
    }
    bool opsize16 = false;
    uint8_t rex = 0, op = 0;
    if (!take(op)) return Err::InvalidArgument;
    if (op == 0x66) {
        opsize16 = true;
        if (!take(op)) return Err::InvalidArgument;
    }
    if ((op & 0xf0) == 0x40) {
        rex = op;
        if (!take(op)) return Err::InvalidArgument;
    }
    const unsigned wide = opsize16 ? 2 : 4;
    switch (op) {
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: { // in/out with an imm8 port
        uint8_t port = 0;
        if (!take(port)) return Err::InvalidArgument;
        in.op = (op & 2) ? PrivOp::Out : PrivOp::In;
        in.size = static_cast<uint8_t>((op & 1) ? wide : 1);
        in.port = port;
        break;
    }
    case 0xec: case 0xed: case 0xee: case 0xef: // in/out with the port in DX
        in.op = (op & 2) ? PrivOp::Out : PrivOp::In;
        in.size = static_cast<uint8_t>((op & 1) ? wide : 1);
        in.port_in_dx = true;
        break;
    case 0xfa: in.op = PrivOp::Cli; break;
    case 0xfb: in.op = PrivOp::Sti; break;
    case 0xf4: in.op = PrivOp::Hlt; break;
    case 0x0f: {
        uint8_t op2 = 0;
        if (!take(op2)) return Err::InvalidArgument;
        switch (op2) {
        case 0x32: in.op = PrivOp::RdMsr; break;
        case 0x30: in.op = PrivOp::WrMsr; break;
        case 0x09: in.op = PrivOp::Wbinvd; break;
        case 0x06: in.op = PrivOp::Clts; break;
        case 0x20:
        case 0x22: {
            // mov to/from CRn: ModRM's reg is the control register (REX.R
            // adds 8), rm the general register (REX.B adds 8); the CPU
            // treats the operand as a register whatever mod says.
            uint8_t modrm = 0;
            if (!take(modrm)) return Err::InvalidArgument;
            in.op = op2 == 0x20 ? PrivOp::MovFromCr : PrivOp::MovToCr;
            in.cr = static_cast<uint8_t>(((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0));
            in.gpr = static_cast<uint8_t>((modrm & 7) | ((rex & 1) ? 8 : 0));
            break;
        }
        default: return Err::InvalidArgument;
        }
        break;
    }
    default: return Err::InvalidArgument;
    }
    // Prefixes only where they mean something: 66 on port I/O, REX on the
    // control-register moves.
    const bool io = in.op == PrivOp::In || in.op == PrivOp::Out;
    const bool cr = in.op == PrivOp::MovFromCr || in.op == PrivOp::MovToCr;
    if ((opsize16 && !io) || (rex && !cr)) return Err::InvalidArgument;
    in.length = static_cast<uint8_t>(at);
    return in;
}

} // namespace virtue::xen
