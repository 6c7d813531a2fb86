// Decoding the privileged instructions a PV guest kernel executes in ring 3
// and the hypervisor emulates (they fault: #GP, or #UD for the CPUID
// prefix): the forced-emulation CPUID (ud2; "xen"; cpuid), rdmsr/wrmsr,
// port I/O with an immediate port or DX, moves from and to control
// registers, cli/sti, wbinvd, hlt and clts. What each does is decided by
// the PV vCPU code; this only says which one it is, its operands and its
// length. String I/O, segment overrides and other prefixes are refused
// (the fault goes to the guest).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"

namespace virtue::xen {

enum class PrivOp : uint8_t { Cpuid, RdMsr, WrMsr, In, Out, MovFromCr, MovToCr, Cli, Sti, Wbinvd, Hlt, Clts };

struct PrivInsn {
    PrivOp op = PrivOp::Hlt;
    uint8_t length = 0;
    uint8_t size = 0;       // In/Out: 1, 2 or 4 bytes
    bool port_in_dx = false; // In/Out: the port is DX (else `port`)
    uint16_t port = 0;
    uint8_t cr = 0;         // Mov*Cr: the control register
    uint8_t gpr = 0;        // Mov*Cr: the general register (x86 numbering, 0 = rax .. 15 = r15)
};

// The forced-emulation prefix before a cpuid: ud2 and the bytes "xen".
inline constexpr uint8_t kForcedEmulationPrefix[5] = {0x0f, 0x0b, 'x', 'e', 'n'};

Result<PrivInsn> decode_priv_op(const uint8_t* bytes, size_t avail);

} // namespace virtue::xen
