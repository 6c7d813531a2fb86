// The `syscall` entry (arch entry.S lands here) for every kind of caller:
// it decides what the instruction means from who executed it, hands the
// call to that personality's generated table, and leaves through the one
// return path. Nothing here belongs to one family.
//
//   native domain    number >= VIRTUE_NATIVE_BASE: the native family
//                    number < 64: the Xen family (calls listed for "native")
//   PV guest kernel  the Xen family (calls listed for "pv_kernel")
//   PV guest user    not a hypercall: the guest's own system call, bounced
//                    to its kernel
// A long call may stop at a safe point and be restarted (continuations:
// sched/scheduler.hpp); the entry rewinds its caller to the `syscall`.
#include "arch/cpu.hpp"
#include "arch/percpu.hpp"
#include "arch/pte.hpp"
#include "console/console.hpp"
#include "core/cmdline.hpp"
#include "lib/xen_errno.hpp"
#include "native/ipc_fast.hpp"
#include "native_dispatch.hpp"
#include "sched/scheduler.hpp"
#include "vm/user_memory.hpp"
#include "xen_dispatch.hpp"
#include "xen-compat/pv_traps.hpp"

namespace virtue {
namespace {

// Who is calling: the thread's guest mode (a PV vCPU's is switched by the
// PV personality as its guest enters and leaves its kernel).
CallerKind caller_kind(const Thread& t) {
    switch (t.guest_mode) {
    case GuestMode::PvKernel: return CallerKind::PvKernel;
    case GuestMode::PvUser: return CallerKind::PvUser;
    case GuestMode::Native: break;
    }
    return CallerKind::Native;
}

// The PV hypercall tracer (boot option pv-trace, off by default): every
// hypercall of a PV guest kernel, multicall entries included, with its
// arguments and result, on the console. The tool for bringing up a new
// guest kernel; it slows every PV call down by a console line.
bool g_pv_trace = false;
VIRTUE_BOOLEAN_PARAM("pv-trace", g_pv_trace);

void trace_pv_call(uint64_t nr, const CallArgs& a, int64_t result) {
    const Thread& t = *current_thread();
    const char* name = nr < xen::TABLE_SIZE && xen::NAMES[nr] ? xen::NAMES[nr] : "?";
    log_info("d%u v%u: %s#%lu(%lx, %lx, %lx, %lx, %lx) = %ld", t.domain->id, t.xen_vcpu, name, nr, a.rdi, a.rsi,
             a.rdx, a.r10, a.r8, result);
}

int64_t xen_call(CallerKind kind, uint64_t nr, const CallArgs& args) {
    int64_t result = -XEN_ENOSYS;
    if (nr < xen::TABLE_SIZE) {
        const xen::Entry& e = xen::TABLE[nr];
        if (e.handler && (e.callers & caller_bit(kind))) result = e.handler(args);
    }
    if (kind != CallerKind::Native && g_pv_trace) [[unlikely]] trace_pv_call(nr, args, result);
    return result;
}

} // namespace

// HYPERVISOR_multicall: here, since it dispatches through the table. Each
// entry runs as a call of its own by the same caller, its result written
// back; a continuation inside an entry lands in that entry's arguments
// (Thread::continue_into), and the multicall then continues at that entry.
CallResult xen::multicall(uint64_t calls, uint64_t nr_calls) {
    if (nr_calls > UINT32_MAX) return Err::InvalidArgument;
    Thread& t = *current_thread();
    const CallerKind kind = caller_kind(t);
    constexpr uint64_t kSize = sizeof(multicall_entry_t);
    for (uint64_t i = 0; i < nr_calls; i++) {
        const uint64_t at = calls + i * kSize;
        if (i > 0 && hypercall_preempt_check()) {
            hypercall_continue_with(0, at);
            hypercall_continue_with(1, nr_calls - i);
            return Err::Restart;
        }
        multicall_entry_t e;
        TRY(copy_from_user(&e, at, kSize));
        int64_t result;
        if (e.op == __HYPERVISOR_multicall || e.op == __HYPERVISOR_iret) {
            result = -XEN_EINVAL; // (not inside a batch)
        } else {
            CallArgs args{};
            args.rax = e.op;
            args.rdi = e.args[0];
            args.rsi = e.args[1];
            args.rdx = e.args[2];
            args.r10 = e.args[3];
            args.r8 = e.args[4];
            args.r9 = e.args[5];
            uint64_t next[6];
            for (int k = 0; k < 6; k++) next[k] = e.args[k];
            t.continue_into = next;
            result = xen_call(kind, e.op, args);
            t.continue_into = nullptr;
            if (result == errno_of(Err::Restart)) {
                for (int k = 0; k < 6; k++) e.args[k] = next[k];
                TRY(copy_to_user(at + offsetof(multicall_entry_t, args), e.args, sizeof e.args));
                hypercall_continue_with(0, at);
                hypercall_continue_with(1, nr_calls - i);
                return Err::Restart;
            }
        }
        e.result = static_cast<xen_ulong_t>(result);
        TRY(copy_to_user(at + offsetof(multicall_entry_t, result), &e.result, sizeof e.result));
    }
    return 0;
}

namespace {

int64_t native_call(uint64_t nr, const CallArgs& args) {
    const uint64_t index = nr - native::BASE;
    if (index >= native::TABLE_SIZE || !native::TABLE[index]) return -XEN_ENOSYS;
    // The IPC fast path (native/ipc_fast.hpp); a call it does not take is
    // unchanged and runs through the table.
    if (nr == VIRTUE_NR_ipc_call) [[unlikely]] {
        CallResult r = Err::InvalidArgument;
        if (native::ipc_call_fast(args, &r)) return native::finish(index, r);
    }
    return native::TABLE[index](args);
}

} // namespace

extern "C" void handle_syscall(arch::InterruptFrame* frame) {
    // The return address is the caller's next instruction; a `syscall` in
    // the last bytes below 2^47 makes it non-canonical, and iretq to it
    // would fault in ring 0 on the user's GS. Such a caller dies instead.
    // (A PV guest kernel runs in the upper half: its return address is
    // non-canonical only after a `syscall` in the last bytes of memory.)
    const Thread& self = *current_thread();
    if (self.guest_mode == GuestMode::Native ? frame->rip >= arch::USER_LIMIT
                                             : !is_canonical(frame->rip)) [[unlikely]] {
        Domain& d = *self.domain;
        log_error("d%u '%s': syscall with a non-canonical return address %016lx", d.id, d.name, frame->rip);
        user_fault_kill_current(*frame);
    }
    // Read once: the flag and the kind stay in registers across the call.
    const bool measure = g_hypercall_hold_stats;
    if (measure) hypercall_hold_begin_measured();
    const uint64_t nr = frame->rax;
    const CallArgs& args = *frame;
    int64_t result = -XEN_ENOSYS;
    const CallerKind kind = caller_kind(self);
    switch (kind) {
    case CallerKind::Native:
        result = nr >= native::BASE ? native_call(nr, args) : xen_call(kind, nr, args);
        break;
    case CallerKind::PvKernel:
        if (nr == __HYPERVISOR_iret) { // it sets every register the guest gets back
            // (Straight to its handler: the PV guest's most frequent call.)
            (void)xen::iret();
            if (g_pv_trace) [[unlikely]] trace_pv_call(nr, args, 0);
            if (measure) hypercall_hold_end_measured(nr);
            user_return_work(*frame);
            xen::pv_before_guest(*frame);
            return;
        }
        result = xen_call(kind, nr, args);
        break;
    case CallerKind::PvUser: // the guest's own system call: bounced to its kernel
        if (measure) hypercall_hold_end_measured(nr);
        xen::pv_user_syscall(*frame);
        user_return_work(*frame);
        xen::pv_before_guest(*frame);
        return;
    }
    if (measure) hypercall_hold_end_measured(nr);
    if (result == errno_of(Err::Restart)) {
        // Preempted at a safe point, its progress in its argument registers
        // (sched/scheduler.hpp): the caller's `syscall` (2 bytes) runs again
        // once the thread is back, with rax still the number.
        frame->rip -= 2;
    } else {
        frame->rax = static_cast<uint64_t>(result);
    }
    user_return_work(*frame);
    if (kind == CallerKind::PvKernel) [[unlikely]] xen::pv_before_guest(*frame);
}

// `syscall` from 32-bit compatibility mode: native domains are 64-bit only.
extern "C" void handle_compat_syscall(arch::InterruptFrame* frame) {
    Domain& d = *current_thread()->domain;
    log_error("d%u '%s': syscall from 32-bit compatibility mode at %08lx", d.id, d.name, frame->rip);
    user_fault_kill_current(*frame);
}

} // namespace virtue
