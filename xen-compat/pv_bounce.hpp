// The frames a PV guest kernel sees on its stack when the hypervisor hands
// it an exception, an event upcall, a guest-user system call or a failsafe
// callback ("bouncing"), and the inverse: what HYPERVISOR_iret restores
// from the frame the guest gives back. Pure arithmetic on register values;
// the PV vCPU code writes the frame to guest memory (a fault there kills
// the domain) and loads the result. The layouts and rules are Xen's 64-bit
// PV ABI (xen/arch-x86/xen-x86_64.h, struct iret_context):
//
//   exception, event:      RCX R11 RIP CS RFLAGS RSP SS
//   with an error code:    RCX R11 ERR RIP CS RFLAGS RSP SS
//   syscall from user:     RCX R11 RIP CS RFLAGS RSP SS (RIP = user RCX,
//                          RFLAGS = user R11, CS/SS = Xen's flat user ones)
//   failsafe:              RCX R11 DS ES FS GS RIP CS RFLAGS RSP SS
//
// (lowest address first). In the frame, CS has RPL 0 when the guest
// kernel was interrupted (so the guest's user_mode() says kernel) and
// carries the saved event mask in bits 32-39; RFLAGS has IF = !mask and
// IOPL 0. The frame starts below the stack pointer rounded down to 16.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"

namespace virtue::xen {

enum class BounceKind : uint8_t { Exception, ExceptionWithError, Event, Syscall, Failsafe };

// The context that was interrupted.
struct GuestContext {
    uint64_t rip = 0, cs = 0, rflags = 0, rsp = 0, ss = 0;
    uint64_t rcx = 0, r11 = 0;
    uint16_t ds = 0, es = 0, fs = 0, gs = 0; // failsafe frames only
    bool kernel_mode = false;                 // the guest kernel was running
};

struct Bounce {
    uint64_t words[11]; // the first `count` are the frame (the rest is never read)
    unsigned count = 0;
    uint64_t frame_rsp = 0; // where words[0] goes; the handler's RSP
    // The handler's registers (all others as at the interruption).
    uint64_t rip = 0, cs = 0, ss = 0, rflags = 0;
};

// `stack` is where the frame goes below: the interrupted RSP from guest
// kernel mode, the registered kernel stack (stack_switch) from user mode.
// `saved_mask` is the event mask at the interruption.
Bounce make_bounce(BounceKind kind, const GuestContext& at, uint64_t stack, uint64_t handler, bool saved_mask,
                   uint64_t error_code = 0);

// What HYPERVISOR_iret does with the guest's frame.
struct IretResult {
    uint64_t rip = 0, cs = 0, rflags = 0, rsp = 0, ss = 0, rax = 0;
    bool restore_rcx_r11 = false; // else RCX and R11 are left as SYSRET leaves them
    uint64_t rcx = 0, r11 = 0;
    bool to_user = false;         // the saved CS had RPL 3: switch to guest user mode
    bool mask_events = false;     // the new event mask: !(rflags.IF)
};
// Err::InvalidArgument: a non-canonical RIP or RSP (Xen kills the domain
// for a bad iret frame; the caller decides).
Result<IretResult> pv_iret(const uint64_t (&frame)[9]);

} // namespace virtue::xen
