// Guest user mode: we build a user address space of our own (L4 -> L3 ->
// L2 -> L1 mapping a code page and a stack page at 4 MiB), pin its L4 and
// make it the user base pointer, register the syscall callback and a
// kernel stack, and iret into a small user program (user_mode.S). Its
// `syscall` must reach our callback with Xen's frame, our iret with
// VGCF_in_syscall must bring it back with the result, its ud2 must reach
// our #UD handler as an exception from user mode, and its last system call
// brings us back here.
#include <stdint.h>
#include <string.h>
#include <xen/callback.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

extern "C" {
void pv_enter_user(const uint64_t* iret_frame);
void pv_syscall_entry();
extern const unsigned char pv_user_program[], pv_user_program_end[], pv_user_syscall_ret[], pv_user_ud2[];
extern volatile uint64_t pv_sys_rdi, pv_sys_rsi, pv_sys_rip, pv_sys_cs;
extern volatile uint32_t pv_sys_count;
}

namespace pv {
namespace {

constexpr uint64_t kUserCode = 0x400000, kUserStack = 0x401000;

alignas(16) unsigned char kernel_stack[16384];

} // namespace

// A page of ours through which other frames are filled (its own frame is
// mapped back afterwards).
alignas(4096) unsigned char fill_window[4096];

long mmuext(unsigned cmd, uint64_t mfn) {
    mmuext_op op{};
    op.cmd = cmd;
    op.arg1.mfn = mfn;
    unsigned done = 0;
    return hypercall(__HYPERVISOR_mmuext_op, arg(&op), 1, arg(&done), DOMID_SELF);
}

long invlpg(uint64_t va) {
    mmuext_op op{};
    op.cmd = MMUEXT_INVLPG_LOCAL;
    op.arg1.linear_addr = va;
    unsigned done = 0;
    return hypercall(__HYPERVISOR_mmuext_op, arg(&op), 1, arg(&done), DOMID_SELF);
}

uint64_t own_mfn(const Boot& b, const void* va) {
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    return p2m[(reinterpret_cast<uint64_t>(va) - VIRT_BASE) >> 12];
}

bool fill(const Boot& b, uint64_t mfn, const void* bytes, size_t n) {
    const uint64_t window = reinterpret_cast<uint64_t>(fill_window);
    if (update_va_mapping(window, (mfn << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL) != 0)
        return false;
    memset(fill_window, 0, sizeof fill_window);
    memcpy(fill_window, bytes, n);
    return update_va_mapping(window, (own_mfn(b, fill_window) << 12) | PTE_P | PTE_RW | PTE_A | PTE_D,
                             UVMF_INVLPG | UVMF_LOCAL) == 0;
}

void enter_user_at(const unsigned char* code) {
    alignas(16) uint64_t frame[9] = {0, 0, 0, 0, kUserCode + static_cast<uint64_t>(code - pv_user_program),
                                     FLAT_USER_CS64, 0x202, kUserStack + 4096, FLAT_USER_SS64};
    pv_enter_user(frame);
}

uint64_t run_user_program_with(uint64_t cs, uint64_t ss) {
    const uint64_t ud2_at = kUserCode + static_cast<uint64_t>(pv_user_ud2 - pv_user_program);
    expect_trap_at(ud2_at + 2);
    alignas(16) uint64_t frame[9] = {0, 0, 0, 0, kUserCode, cs, 0x202, kUserStack + 4096, ss};
    pv_sys_count = 0;
    pv_sys_cs = 0;
    pv_enter_user(frame);
    return pv_sys_count == 2 ? pv_sys_cs : 0;
}

void run_user_checks(Checks& c, const Boot& b) {
    // Six frames from the top of our RAM, which no mapping of ours names.
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    const uint64_t top = b.si->nr_pages - 1;
    const uint64_t l4 = p2m[top], l3 = p2m[top - 1], l2 = p2m[top - 2], l1 = p2m[top - 3], code = p2m[top - 4],
                   stack = p2m[top - 5];
    uint64_t t[512] = {};
    bool ok = fill(b, code, pv_user_program, static_cast<size_t>(pv_user_program_end - pv_user_program)) &&
              fill(b, stack, t, 0);
    t[(kUserCode >> 12) & 511] = (code << 12) | PTE_P | PTE_A;                   // read-only code
    t[(kUserStack >> 12) & 511] = (stack << 12) | PTE_P | PTE_RW | PTE_A | PTE_D; // the stack
    ok = ok && fill(b, l1, t, sizeof t);
    memset(t, 0, sizeof t);
    t[(kUserCode >> 21) & 511] = (l1 << 12) | PTE_P | PTE_RW | PTE_A;
    ok = ok && fill(b, l2, t, sizeof t);
    memset(t, 0, sizeof t);
    t[0] = (l2 << 12) | PTE_P | PTE_RW | PTE_A;
    ok = ok && fill(b, l3, t, sizeof t);
    memset(t, 0, sizeof t);
    t[0] = (l3 << 12) | PTE_P | PTE_RW | PTE_A;
    ok = ok && fill(b, l4, t, sizeof t);
    c.expect("user_tables_written", ok, "update_va_mapping of the fill window failed");
    if (!ok) return;
    c.expect_eq("user_l4_pin_returns_0", mmuext(MMUEXT_PIN_L4_TABLE, l4), 0);
    c.expect_eq("new_user_baseptr_returns_0", mmuext(MMUEXT_NEW_USER_BASEPTR, l4), 0);
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_syscall;
    cb.address = reinterpret_cast<uint64_t>(pv_syscall_entry);
    c.expect_eq("callback_register_syscall_returns_0", hypercall(__HYPERVISOR_callback_op, CALLBACKOP_register, arg(&cb)),
                0);
    // (Linux names its stack with its own RPL-0 selector: raised to RPL 3.)
    c.expect_eq("stack_switch_rpl0_selector_returns_0",
                hypercall(__HYPERVISOR_stack_switch, FLAT_KERNEL_SS & ~3u, reinterpret_cast<uint64_t>(kernel_stack + sizeof kernel_stack)),
                0);
    c.expect_eq("stack_switch_returns_0",
                hypercall(__HYPERVISOR_stack_switch, FLAT_KERNEL_SS, reinterpret_cast<uint64_t>(kernel_stack + sizeof kernel_stack)),
                0);
    c.expect_eq("trap_table_again_returns_0", install_trap_table(), 0);
    const uint64_t ud2_at = kUserCode + static_cast<uint64_t>(pv_user_ud2 - pv_user_program);
    expect_trap_at(ud2_at + 2); // the user program's ud2: resumed after it

    // Into user mode: rax r11 rcx flags rip cs rflags rsp ss.
    alignas(16) uint64_t frame[9] = {0, 0, 0, 0, kUserCode, FLAT_USER_CS64, 0x202, kUserStack + 4096, FLAT_USER_SS64};
    pv_sys_count = 0;
    pv_enter_user(frame);

    const uint64_t ret_at = kUserCode + static_cast<uint64_t>(pv_user_syscall_ret - pv_user_program);
    const TrapSeen ud = last_trap();
    c.info("user_mode", "%u system calls, last rdi %lu rsi %lu rip 0x%lx cs 0x%lx; #UD: %u, vector %lu rip 0x%lx cs 0x%lx",
           pv_sys_count, pv_sys_rdi, pv_sys_rsi, pv_sys_rip, pv_sys_cs, ud.count, ud.vector, ud.rip, ud.cs);
    c.expect("user_syscall_reaches_kernel", pv_sys_count == 2, "%u system calls reached the callback", pv_sys_count);
    c.expect("user_syscall_result_returned", pv_sys_rdi == 43, "the user program passed on %lu, want 43", pv_sys_rdi);
    c.expect("user_syscall_frame_is_user", (pv_sys_cs & 3) == 3 && pv_sys_rip > ret_at && pv_sys_rip < kUserCode + 4096,
             "frame rip 0x%lx cs 0x%lx", pv_sys_rip, pv_sys_cs);
    c.expect("user_exception_bounces_to_kernel", ud.count == 1 && ud.vector == 6 && ud.rip == ud2_at && (ud.cs & 3) == 3,
             "%u deliveries, vector %lu, rip 0x%lx (want 0x%lx), cs 0x%lx", ud.count, ud.vector, ud.rip, ud2_at, ud.cs);
}

} // namespace pv
