// Interrupt and exception dispatch: what an interrupt means (arch/x86's
// entry stubs save the registers and call handle_interrupt, arch/traps.hpp).
// An exception in the hypervisor is always fatal: dump the registers, the
// faulting address and a backtrace, panic. A domain's exception goes to the
// domain.
#include "arch/apic.hpp"
#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "arch/percpu.hpp"
#include "arch/tlb.hpp"
#include "arch/traps.hpp"
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "core/panic.hpp"
#include "core/symbols.hpp"
#include "domain/fault.hpp"
#include "lib/format.hpp"
#include "sched/scheduler.hpp"
#include "time/timer_tick.hpp"
#include "xen-compat/pv_traps.hpp"

namespace virtue {
namespace {
using namespace arch;

void dump_registers(const InterruptFrame& f) {
    uint32_t cpu = cpu_index();
    const char* name = exception_name(f.vector);
    SymbolHit at = symbol_lookup(f.rip);
    console_print_raw("\n----[ Virtue hypervisor fault on CPU %u ]----\n", cpu);
    console_print_raw("%s (vector %lu, error code 0x%lx) at RIP %016lx <%s+0x%lx>\n", name, f.vector, f.error_code,
        f.rip, at.name ? at.name : "?", at.offset);
    if (f.vector == 14) {
        uint64_t cr2 = read_cr2();
        console_print_raw("faulting address (CR2): %016lx  [%s, %s, %s%s]\n", cr2,
            (f.error_code & 1) ? "protection violation" : "not present",
            (f.error_code & 2) ? "write" : "read", (f.error_code & 4) ? "user" : "supervisor",
            (f.error_code & 16) ? ", instruction fetch" : "");
    }
    console_print_raw("RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n", f.rax, f.rbx, f.rcx, f.rdx);
    console_print_raw("RSI=%016lx RDI=%016lx RBP=%016lx RSP=%016lx\n", f.rsi, f.rdi, f.rbp, f.rsp);
    console_print_raw("R8 =%016lx R9 =%016lx R10=%016lx R11=%016lx\n", f.r8, f.r9, f.r10, f.r11);
    console_print_raw("R12=%016lx R13=%016lx R14=%016lx R15=%016lx\n", f.r12, f.r13, f.r14, f.r15);
    console_print_raw("RIP=%016lx RFLAGS=%016lx CS=%04lx SS=%04lx\n", f.rip, f.rflags, f.cs, f.ss);
    console_print_raw("CR0=%016lx CR2=%016lx CR3=%016lx CR4=%016lx\n", read_cr0(), read_cr2(), read_cr3(),
        read_cr4());
    print_backtrace(f.rip, f.rbp);
}

[[noreturn]] void fatal_exception(const InterruptFrame& f) {
    PerCpu& cpu = this_cpu();
    if (cpu.in_exception.fetch_add(1, MemOrder::Relaxed) > 0) {
        // A fault while dumping a fault: print the minimum and stop.
        console_print_raw("\n**** PANIC on CPU %u: nested %s at %016lx while handling a fault ****\n",
            cpu.cpu_index, exception_name(f.vector), f.rip);
        halt_forever();
    }
    panic_enter();
    dump_registers(f);
    panic("fatal %s in the hypervisor at %016lx", exception_name(f.vector), f.rip);
}

} // namespace

void dump_user_fault(const InterruptFrame& f) {
    const char* name = exception_name(f.vector);
    char where[96] = "";
    if (f.vector == 14)
        format(where, sizeof where, " address %016lx [%s, %s%s]", read_cr2(),
               (f.error_code & 1) ? "protection" : "not present", (f.error_code & 2) ? "write" : "read",
               (f.error_code & 16) ? ", fetch" : "");
    char who[64];
    describe_current(who, sizeof who);
    log_error("%s: %s in ring 3 (error 0x%lx) at RIP %016lx%s", who, name, f.error_code, f.rip, where);
    log_error("  RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx", f.rax, f.rbx, f.rcx, f.rdx);
    log_error("  RSI=%016lx RDI=%016lx RBP=%016lx RSP=%016lx", f.rsi, f.rdi, f.rbp, f.rsp);
    log_error("  R8 =%016lx R9 =%016lx R10=%016lx R11=%016lx", f.r8, f.r9, f.r10, f.r11);
    log_error("  R12=%016lx R13=%016lx R14=%016lx R15=%016lx", f.r12, f.r13, f.r14, f.r15);
    log_error("  RFLAGS=%016lx CS=%04lx SS=%04lx", f.rflags, f.cs, f.ss);
}

extern "C" void handle_interrupt(InterruptFrame* frame) {
    uint64_t v = frame->vector;
    bool from_user = (frame->cs & 3) != 0;
    if (v == 2 && panic_in_progress()) halt_forever(); // stopped by the panicking CPU
    if (v < 32) {
        // NMI and machine checks are about the machine, not the domain that
        // happened to run.
        if (from_user && v != 2 && v != 18) {
            // A domain's fault never reaches the hypervisor's fatal path: it
            // goes to the domain's own handler thread (a PV vCPU's: to the
            // PV personality), or (without one) the domain dies alone.
            const bool handled = current_thread()->guest_mode == GuestMode::Native ? fault_deliver(*frame)
                                                                                     : xen::pv_exception(*frame);
            if (handled) {
                user_return_work(*frame); // stops here until handled
                if (current_thread()->guest_mode != GuestMode::Native) xen::pv_before_guest(*frame);
                return;
            }
            dump_user_fault(*frame);
            user_fault_kill_current(*frame); // does not return
        }
        if (v == 14 && fixup_user_access(*frame)) return;
        fatal_exception(*frame);
    }
    switch (v) {
    case VECTOR_TIMER:
        lapic_eoi();
        timer_tick();
        break;
    case VECTOR_TLB_FLUSH:
        lapic_eoi();
        tlb_serve_requests();
        break;
    case VECTOR_RESCHEDULE:
        lapic_eoi();
        sched_resched_ipi();
        break;
    case VECTOR_SPURIOUS:
        break; // no EOI for spurious interrupts
    default:
        log_warn("unexpected interrupt vector %lu on CPU %u", v, cpu_index());
        lapic_eoi();
        break;
    }
    if (from_user) {
        user_return_work(*frame);
        if (current_thread()->guest_mode != GuestMode::Native) xen::pv_before_guest(*frame);
    }
}

} // namespace virtue
