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
#include <xen/xen.h>

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
inline Bounce make_bounce(BounceKind kind, const GuestContext& at, uint64_t stack, uint64_t handler, bool saved_mask,
                          uint64_t error_code = 0);
// (Defined below, inline: they run on every bounce and iret.)

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
inline Result<IretResult> pv_iret(const uint64_t (&frame)[9]);

// ---- Definitions ----

namespace bounce_detail {

constexpr uint64_t CF_1 = 1u << 1; // always set
constexpr uint64_t TF = 1u << 8, IF = 1u << 9, DF = 1u << 10, IOPL = 3u << 12, NT = 1u << 14, RF = 1u << 16,
                   VM = 1u << 17, AC = 1u << 18;
// What a guest may put in its RFLAGS through iret: the arithmetic flags,
// TF, IF, DF, NT, RF, AC, ID (no IOPL, no VM, no VIF/VIP).
constexpr uint64_t kIretFlags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800 | TF | IF | DF | NT | RF | AC | (1u << 21);

constexpr bool canonical(uint64_t v) {
    const uint64_t top = v >> 47;
    return top == 0 || top == 0x1ffff;
}

} // namespace bounce_detail

inline Bounce make_bounce(BounceKind kind, const GuestContext& at, uint64_t stack, uint64_t handler, bool saved_mask,
                          uint64_t error_code) {
    using namespace bounce_detail;
    Bounce b;
    uint64_t rip = at.rip, cs = at.cs & 0xffff, rflags = at.rflags, ss = at.ss & 0xffff;
    if (kind == BounceKind::Syscall) {
        // SYSCALL saved the return address and flags in RCX and R11 only.
        rip = at.rcx;
        rflags = at.r11;
        cs = FLAT_USER_CS64;
        ss = FLAT_USER_SS64;
    }
    if (at.kernel_mode) cs &= ~uint64_t{3};
    const uint64_t frame_cs = cs | (uint64_t{saved_mask ? 1u : 0u} << 32);
    const uint64_t frame_flags = ((rflags & ~(IF | IOPL)) | CF_1) | (saved_mask ? 0 : IF);
    auto push = [&](uint64_t v) { b.words[b.count++] = v; };
    push(at.rcx);
    push(at.r11);
    if (kind == BounceKind::ExceptionWithError) push(error_code);
    if (kind == BounceKind::Failsafe) {
        push(at.ds);
        push(at.es);
        push(at.fs);
        push(at.gs);
    }
    push(rip);
    push(frame_cs);
    push(frame_flags);
    push(at.rsp);
    push(ss);
    b.frame_rsp = (stack & ~uint64_t{15}) - b.count * sizeof(uint64_t);
    b.rip = handler;
    b.cs = FLAT_KERNEL_CS64;
    b.ss = FLAT_KERNEL_SS64;
    // The handler runs with real interrupts on (the event mask is the
    // guest's interrupt flag) and without single-step, nested-task,
    // resume, alignment-check or V86 state; a system call also clears DF.
    uint64_t clear = TF | NT | RF | AC | VM | IOPL;
    if (kind == BounceKind::Syscall) clear |= DF;
    b.rflags = (rflags & ~clear) | IF | CF_1;
    return b;
}

inline Result<IretResult> pv_iret(const uint64_t (&f)[9]) {
    using namespace bounce_detail;
    // struct iret_context: rax, r11, rcx, flags, rip, cs, rflags, rsp, ss.
    const uint64_t rax = f[0], r11 = f[1], rcx = f[2], flags = f[3], rip = f[4], cs = f[5], rflags = f[6],
                   rsp = f[7], ss = f[8];
    if (!canonical(rip) || !canonical(rsp)) return Err::InvalidArgument;
    IretResult r;
    r.rax = rax;
    r.rip = rip;
    r.rsp = rsp;
    r.rflags = (rflags & kIretFlags) | IF | CF_1; // the real IF stays on; the mask carries the guest's
    r.mask_events = !(rflags & IF);
    if (flags & VGCF_in_syscall) {
        // Back as SYSRET returns: the flat user selectors, RCX/R11 as it
        // leaves them.
        r.cs = FLAT_USER_CS64;
        r.ss = FLAT_USER_SS64;
        r.to_user = true;
        r.rcx = rip;
        r.r11 = r.rflags;
        r.restore_rcx_r11 = true;
    } else {
        r.cs = (cs & 0xffff) | 3;
        r.ss = (ss & 0xffff) | 3;
        r.to_user = (cs & 3) == 3;
        r.rcx = rcx;
        r.r11 = r11;
        r.restore_rcx_r11 = true;
    }
    return r;
}


} // namespace virtue::xen
