// Bounce frames and HYPERVISOR_iret: the layouts Linux's entry code reads,
// the CS and RFLAGS rules (kernel frames with RPL 0, the saved event mask
// in CS bits 32-39 and as IF), 16-byte alignment, the syscall frame from
// user mode, and iret's restoration with and without VGCF_in_syscall.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <xen/xen.h>

#include "xen-compat/pv_bounce.hpp"

using namespace virtue;
using namespace virtue::xen;

namespace {
constexpr uint64_t IF = 1u << 9, TF = 1u << 8, DF = 1u << 10, IOPL3 = 3u << 12, AC = 1u << 18;

GuestContext kernel_ctx() {
    GuestContext c;
    c.rip = 0xffffffff81001234;
    c.cs = 0x10 | 3; // Linux's __KERNEL_CS as the CPU has it (DPL raised to 3)
    c.rflags = 0x2 | IF | DF | AC;
    c.rsp = 0xffffc90000013f78;
    c.ss = 0xe02b;
    c.rcx = 0x1111;
    c.r11 = 0x2222;
    c.kernel_mode = true;
    return c;
}
} // namespace

BOOST_AUTO_TEST_SUITE(pv_bounce)

BOOST_AUTO_TEST_CASE(exception_frames_from_the_guest_kernel) {
    const GuestContext c = kernel_ctx();
    const Bounce b = make_bounce(BounceKind::ExceptionWithError, c, c.rsp, 0xffffffff81a00000, false, 0x6);
    BOOST_TEST(b.count == 8u);
    BOOST_TEST(b.words[0] == 0x1111u); // RCX
    BOOST_TEST(b.words[1] == 0x2222u); // R11
    BOOST_TEST(b.words[2] == 0x6u);    // error code
    BOOST_TEST(b.words[3] == c.rip);
    BOOST_TEST(b.words[4] == 0x10u);   // RPL cleared: user_mode() says kernel; mask 0 in bits 32-39
    BOOST_TEST(b.words[5] == (0x2 | IF | DF | AC)); // IF = !mask
    BOOST_TEST(b.words[6] == c.rsp);
    BOOST_TEST(b.words[7] == 0xe02bu);
    BOOST_TEST(b.frame_rsp == ((c.rsp & ~15ull) - 64));
    BOOST_TEST(b.frame_rsp % 16 == 0u);
    BOOST_TEST(b.rip == 0xffffffff81a00000u);
    BOOST_TEST(b.cs == 0xe033u);
    BOOST_TEST(b.ss == 0xe02bu);
    BOOST_TEST((b.rflags & (AC | TF | IOPL3)) == 0u);
    BOOST_TEST((b.rflags & IF) != 0u); // real interrupts stay on
    BOOST_TEST((b.rflags & DF) != 0u); // only a system call clears DF
    // With events masked at the interruption: IF clear in the frame, the
    // mask in CS bits 32-39.
    const Bounce m = make_bounce(BounceKind::Event, c, c.rsp, 0xffffffff81b00000, true);
    BOOST_TEST(m.count == 7u);
    BOOST_TEST(m.words[3] == (0x10u | (1ull << 32)));
    BOOST_TEST((m.words[4] & IF) == 0u);
}

BOOST_AUTO_TEST_CASE(frames_from_guest_user_mode_keep_the_user_cs) {
    GuestContext u;
    u.rip = 0x401000;
    u.cs = 0x33;
    u.rflags = 0x202 | IOPL3 | TF;
    u.rsp = 0x7ffffffde008;
    u.ss = 0x2b;
    u.kernel_mode = false;
    const uint64_t kernel_sp = 0xffffc90000014000;
    const Bounce b = make_bounce(BounceKind::Exception, u, kernel_sp, 0xffffffff81c00000, false);
    BOOST_TEST(b.count == 7u);
    BOOST_TEST(b.words[3] == 0x33u);
    BOOST_TEST((b.words[4] & IOPL3) == 0u); // IOPL never shows
    BOOST_TEST((b.words[4] & TF) != 0u);    // the interrupted TF does
    BOOST_TEST((b.rflags & TF) == 0u);      // but the handler runs without it
    BOOST_TEST(b.frame_rsp == kernel_sp - 56); // 7 words below the (16-aligned) kernel stack top
}

BOOST_AUTO_TEST_CASE(syscall_and_failsafe_frames) {
    GuestContext u;
    u.rip = 0x401002; // after the syscall instruction; RCX holds it too
    u.rcx = 0x401002;
    u.r11 = 0x246;
    u.rsp = 0x7ffffffde000;
    u.cs = 0x33;
    u.ss = 0x2b;
    u.rflags = 0x246 | DF;
    const Bounce s = make_bounce(BounceKind::Syscall, u, 0xffffc90000020000, 0xffffffff81e00000, false);
    BOOST_TEST(s.count == 7u);
    BOOST_TEST(s.words[2] == 0x401002u); // RIP = user RCX
    BOOST_TEST(s.words[3] == uint64_t{FLAT_USER_CS64});
    BOOST_TEST(s.words[4] == 0x246u);    // RFLAGS = user R11
    BOOST_TEST(s.words[6] == uint64_t{FLAT_USER_SS64});
    BOOST_TEST((s.rflags & DF) == 0u);
    GuestContext k = kernel_ctx();
    k.ds = 0x2b, k.es = 0x2b, k.fs = 0, k.gs = 0x63;
    const Bounce f = make_bounce(BounceKind::Failsafe, k, k.rsp, 0xffffffff81f00000, false);
    BOOST_TEST(f.count == 11u);
    BOOST_TEST(f.words[2] == 0x2bu); // DS at +0x10
    BOOST_TEST(f.words[5] == 0x63u); // GS at +0x28
    BOOST_TEST(f.words[6] == k.rip);
}

BOOST_AUTO_TEST_CASE(iret_restores_what_the_frame_says) {
    // To guest user mode: RPL 3 in CS.
    const uint64_t to_user[9] = {7, 0x246, 0x401002, 0, 0x401002, 0x33, 0x246 | IOPL3 | (1u << 17), 0x7ffffffde000, 0x2b};
    auto r = pv_iret(to_user);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->to_user);
    BOOST_TEST(r->rax == 7u);
    BOOST_TEST((r->rip == 0x401002u && r->cs == 0x33u && r->ss == 0x2bu && r->rsp == 0x7ffffffde000u));
    BOOST_TEST((r->rflags & (IOPL3 | (1u << 17))) == 0u); // no IOPL, no VM
    BOOST_TEST(!r->mask_events);
    BOOST_TEST((r->restore_rcx_r11 && r->rcx == 0x401002u && r->r11 == 0x246u));
    // To the guest kernel with events masked (IF clear in the frame).
    const uint64_t to_kernel[9] = {0, 1, 2, 0, 0xffffffff81001234, 0x10, 0x2, 0xffffc90000013f78, 0x18};
    r = pv_iret(to_kernel);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(!r->to_user);
    BOOST_TEST((r->cs == 0x13u && r->ss == 0x1bu));
    BOOST_TEST(r->mask_events);
    BOOST_TEST((r->rflags & IF) != 0u); // the real flag stays on
    // VGCF_in_syscall: back as SYSRET leaves things.
    const uint64_t sysret[9] = {0, 9, 9, VGCF_in_syscall, 0x401002, 0x10, 0x202, 0x7ffffffde000, 0x18};
    r = pv_iret(sysret);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->to_user);
    BOOST_TEST((r->cs == uint64_t{FLAT_USER_CS64} && r->ss == uint64_t{FLAT_USER_SS64}));
    BOOST_TEST((r->rcx == 0x401002u && r->r11 == r->rflags));
    // A non-canonical RIP or RSP is refused.
    uint64_t bad[9] = {0, 0, 0, 0, 0x0000800000000000, 0x33, 0x202, 0x1000, 0x2b};
    BOOST_TEST(pv_iret(bad).error() == Err::InvalidArgument);
    bad[4] = 0x401000;
    bad[7] = 0xffff7fffffffffff;
    BOOST_TEST(pv_iret(bad).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()
