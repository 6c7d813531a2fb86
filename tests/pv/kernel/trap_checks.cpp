// Trap bouncing from the guest kernel: set_trap_table, then each exception
// the hypervisor must hand to the guest (#UD, #GP, #PF with its address in
// vcpu_info's cr2, int3, a divide error) reaches our handler with Xen's 64-bit PV frame, and
// HYPERVISOR_iret brings us back with our registers intact.
// `int $n` reaches the handler the trap table gives (under QEMU, for the
// vector the #GP's error code decodes to: vector * 16 + 2 there, not the
// SDM's vector * 8 + 2, so Xen and Virtue both deliver n * 2; see
// docs/pv-oracle.md), and without a handler it is the #GP.
#include <stdint.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

extern "C" {
void pv_trap_0();
void pv_trap_3();
void pv_trap_6();
void pv_trap_7();
void pv_trap_11();
void pv_trap_13();
void pv_trap_14();
void pv_trap_64();
void pv_trap_128();
}

namespace pv {

// The frame traps.S builds: its pushes, then vector, error code, and the
// hypervisor's rip, cs, rflags, rsp, ss.
struct TrapFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

namespace {

struct Seen {
    uint64_t vector, error, rip, cs, rflags, rsp, cr2;
    unsigned count;
};
volatile Seen g_seen;
volatile uint64_t g_resume; // where the handler sends us back to (0: to the faulting instruction's rip)

} // namespace

volatile vcpu_info* g_moved_vcpu_info; // once register_vcpu_info moved it
volatile vcpu_info* my_vcpu_info() { return g_moved_vcpu_info ? g_moved_vcpu_info : &shared_info_page()->vcpu_info[0]; }

volatile unsigned g_upcalls;         // event callbacks taken
volatile uint64_t g_upcall_sel;      // evtchn_pending_sel words seen by them (ORed)
volatile uint64_t g_upcall_ports;    // ports 0-63 they found pending (ORed; the handler clears them)
volatile uint64_t g_upcall_rflags;   // the interrupted rflags of the last one

extern "C" void pv_trap_handler(TrapFrame* f) {
    if (f->vector == 0x100) {
        // An event upcall: acknowledge it as Linux does (clear the flag,
        // take the selector, take the pending ports of word 0, the only
        // one our ports use).
        volatile vcpu_info& vi = *my_vcpu_info();
        vi.evtchn_upcall_pending = 0;
        const uint64_t sel = __atomic_exchange_n(&vi.evtchn_pending_sel, 0ul, __ATOMIC_SEQ_CST);
        g_upcall_sel = g_upcall_sel | sel;
        if (sel & 1) {
            volatile shared_info* s = shared_info_page();
            const uint64_t ready = s->evtchn_pending[0] & ~s->evtchn_mask[0];
            __atomic_and_fetch(&s->evtchn_pending[0], ~ready, __ATOMIC_SEQ_CST);
            g_upcall_ports = g_upcall_ports | ready;
        }
        g_upcall_rflags = f->rflags;
        g_upcalls = g_upcalls + 1;
        return;
    }
    g_seen.vector = f->vector;
    g_seen.error = f->error;
    g_seen.rip = f->rip;
    g_seen.cs = f->cs;
    g_seen.rflags = f->rflags;
    g_seen.rsp = f->rsp;
    g_seen.cr2 = my_vcpu_info()->arch.cr2;
    g_seen.count = g_seen.count + 1;
    if (f->vector == 11) f->ss = FLAT_KERNEL_SS64; // (a stack selector gone bad: resumed with the flat one)
    if (g_resume) {
        f->rip = g_resume;
        g_resume = 0;
    } else if (f->vector == 7) {
        // A second #NM at the same place: TS is still set; clear it so that
        // the instruction can run (the check then sees two deliveries).
        (void)hypercall(__HYPERVISOR_fpu_taskswitch, 0);
    }
}

namespace {

long set_trap_table(const trap_info* t) { return hypercall(__HYPERVISOR_set_trap_table, arg(t)); }

trap_info g_table[] = {
    {0, 0, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_0)},
    {3, 3, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_3)},
    {6, 0, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_6)},
    {7, 0, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_7)},
    {11, 0, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_11)},
    {13, 0, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_13)},
    {14, 0, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_14)},
    {64, 3, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_64)},
    {128, 3, FLAT_KERNEL_CS, reinterpret_cast<unsigned long>(pv_trap_128)},
    {0, 0, 0, 0},
};

void reset() {
    g_seen.vector = ~0ull;
    g_seen.count = 0;
}

} // namespace

long install_trap_table() { return set_trap_table(g_table); }
void expect_trap_at(uint64_t resume) {
    reset();
    g_resume = resume;
}
volatile uint64_t* expect_trap_resume() { return &g_resume; }
TrapSeen last_trap() { return TrapSeen{g_seen.vector, g_seen.error, g_seen.rip, g_seen.cs, g_seen.count}; }

namespace {

// The checks that every bounce shares: one delivery, the vector, the
// frame's rip, and a frame on our own stack below where we were.
void expect_bounce(Checks& c, const char* name, uint64_t vector, uint64_t rip) {
    c.expect(name, g_seen.count == 1 && g_seen.vector == vector && g_seen.rip == rip,
             "%u deliveries, vector %lu (want %lu), rip 0x%lx (want 0x%lx)", g_seen.count, g_seen.vector, vector,
             g_seen.rip, rip);
}

} // namespace

void run_trap_checks(Checks& c) {
    c.expect_eq("set_trap_table_returns_0", set_trap_table(g_table), 0);

    // #UD at a known instruction; resumed past it.
    reset();
    uint64_t at = 0, after = 0;
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %1\n\t"
                 "mov %1, %2\n\t"
                 "1: ud2\n\t"
                 "2:"
                 : "=&r"(at), "=&r"(after), "=m"(g_resume)::"memory");
    expect_bounce(c, "trap_bounce_ud", 6, at);
    c.info("trap_frame_ud", "cs 0x%lx rflags 0x%lx rsp 0x%lx", g_seen.cs, g_seen.rflags, g_seen.rsp);
    // The frame's CS says "kernel" to the guest (RPL 0), with the event
    // mask at the interruption in bits 32-39 (still masked since boot).
    c.expect("trap_frame_cs_kernel_rpl0", (g_seen.cs & 0xffff) == (FLAT_KERNEL_CS64 & ~3u), "cs 0x%lx", g_seen.cs);
    c.expect("trap_frame_saved_event_mask", ((g_seen.cs >> 32) & 0xff) == 1, "cs 0x%lx", g_seen.cs);

    // #GP(0): a non-canonical address.
    reset();
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %1\n\t"
                 "mov %1, %2\n\t"
                 "movabs $0x8000000000000000, %%rax\n\t"
                 "1: mov (%%rax), %%rax\n\t"
                 "2:"
                 : "=&r"(at), "=&r"(after), "=m"(g_resume)::"rax", "memory");
    expect_bounce(c, "trap_bounce_gp", 13, at);
    c.expect_eq("trap_gp_error_code_0", static_cast<int64_t>(g_seen.error), 0);

    // #PF: a read of an unmapped lower-half address, from the guest kernel:
    // error code 0 (not present, read, and the U bit cleared for kernel
    // mode), the address in vcpu_info's cr2.
    reset();
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %1\n\t"
                 "mov %1, %2\n\t"
                 "mov $0x1238, %%eax\n\t"
                 "1: mov (%%rax), %%rax\n\t"
                 "2:"
                 : "=&r"(at), "=&r"(after), "=m"(g_resume)::"rax", "memory");
    expect_bounce(c, "trap_bounce_pf", 14, at);
    c.expect("trap_pf_error_and_cr2", g_seen.error == 0 && g_seen.cr2 == 0x1238, "error 0x%lx cr2 0x%lx",
             g_seen.error, g_seen.cr2);

    // int3 is a trap: the frame's rip is after it, and we go on from there.
    // (g_resume is set too, so that a wrong delivery cannot loop.)
    reset();
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "mov %0, %1\n\t"
                 "int3\n\t"
                 "1:"
                 : "=&r"(after), "=m"(g_resume)::"memory");
    c.expect("trap_bounce_int3", g_seen.count == 1 && g_seen.vector == 3 && g_seen.rip == after,
             "%u deliveries, vector %lu, rip 0x%lx (want 0x%lx)", g_seen.count, g_seen.vector, g_seen.rip, after);

    // Divide error; and the iret left the callee-saved registers alone.
    reset();
    uint64_t kept = 0x1234567890abcdefull, out = 0;
    asm volatile("mov %3, %%r12\n\t"
                 "lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %%rcx\n\t"
                 "mov %%rcx, %2\n\t"
                 "xor %%ecx, %%ecx\n\t"
                 "mov $1, %%eax\n\t"
                 "xor %%edx, %%edx\n\t"
                 "1: div %%rcx\n\t"
                 "2: mov %%r12, %1"
                 : "=&r"(at), "=&r"(out), "=m"(g_resume)
                 : "r"(kept)
                 : "rax", "rcx", "rdx", "r12", "memory");
    expect_bounce(c, "trap_bounce_divide_error", 0, at);
    c.expect("trap_iret_keeps_registers", out == kept, "r12 0x%lx", out);

    // int $0x40 to a handler reachable from kernel mode (DPL 3): delivered
    // as a software interrupt (after the instruction, no error code), the
    // vector decoded from the #GP the CPU raises. Under QEMU that decodes
    // to 0x80 (docs/pv-oracle.md), so both vectors have the handler.
    reset();
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "mov %0, %1\n\t"
                 "int $0x40\n\t"
                 "1:"
                 : "=&r"(after), "=m"(g_resume)::"memory");
    g_resume = 0;
    c.info("int_n", "%u deliveries, vector 0x%lx error 0x%lx rip 0x%lx (after 0x%lx)", g_seen.count, g_seen.vector,
           g_seen.error, g_seen.rip, after);
    c.expect("int_n_reaches_its_handler",
             g_seen.count == 1 && (g_seen.vector == 0x40 || g_seen.vector == 0x80) && g_seen.rip == after &&
                 g_seen.error == 0,
             "%u deliveries, vector 0x%lx error 0x%lx rip 0x%lx (want 0x%lx)", g_seen.count, g_seen.vector, g_seen.error,
             g_seen.rip, after);
    // int $0x45, which no handler takes: the #GP itself, resumed past it.
    reset();
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %1\n\t"
                 "mov %1, %2\n\t"
                 "1: int $0x45\n\t"
                 "2:"
                 : "=&r"(at), "=&r"(after), "=m"(g_resume)::"memory");
    c.expect("int_n_without_handler_is_gp", g_seen.count == 1 && g_seen.vector == 13 && (g_seen.error & 3) == 2 &&
                                                g_seen.rip == at,
             "%u deliveries, vector %lu error 0x%lx rip 0x%lx (want 0x%lx)", g_seen.count, g_seen.vector, g_seen.error,
             g_seen.rip, at);

    c.expect_eq("set_trap_table_clear_returns_0", set_trap_table(nullptr), 0);
}

} // namespace pv
