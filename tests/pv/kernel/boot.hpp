// What every group of checks gets: the start_info page the hypervisor handed
// over, and the role it says we have. A few answers must differ between
// Xen's dom0 (the oracle boots this kernel as dom0) and a domU (Virtue
// boots it as one); the checks that depend on the role name it.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>

#include "checks.hpp"

namespace pv {

struct Boot {
    const start_info* si;
    bool dom0; // SIF_INITDOMAIN
};

// The registers as the hypervisor started us (head.S writes this first).
struct EntryState {
    uint64_t gpr[16]; // rax rcx rdx rbx rsp rbp rsi rdi r8 .. r15
    uint64_t rflags;
    uint16_t cs, ss, ds, es, fs, gs;
};
static_assert(__builtin_offsetof(EntryState, rflags) == 128 && __builtin_offsetof(EntryState, cs) == 136 &&
                  __builtin_offsetof(EntryState, gs) == 146,
              "head.S writes these offsets");
enum Gpr { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
extern "C" EntryState pv_entry_state;
extern "C" char _start_symbol asm("_start"); // the entry point (head.S)

// The groups of checks (one file each), run in this order by main.cpp.
void run_entry_checks(Checks& c, const Boot& boot); // entry_checks.cpp: registers, layout, P2M/M2P
void run_basic_checks(Checks& c, const Boot& boot); // basic_checks.cpp: hypercalls without MMU work
void run_trap_checks(Checks& c);                    // trap_checks.cpp: exceptions bounced to the guest kernel

void run_user_checks(Checks& c, const Boot& boot); // user_checks.cpp: guest user mode, its syscall and exceptions
void run_event_checks(Checks& c);                  // event_checks.cpp: event upcalls, loopback, VIRQ_TIMER, block
void run_gdt_checks(Checks& c, const Boot& boot);  // gdt_checks.cpp: our own GDT, its selectors in both modes
// The user program of user_checks.cpp again, entered with these selectors;
// the CS its system calls were made with (0: it did not finish).
uint64_t run_user_program_with(uint64_t cs, uint64_t ss);
void run_ldt_checks(Checks& c, const Boot& boot);  // ldt_checks.cpp: our own LDT (MMUEXT_SET_LDT)
void run_cpu_checks(Checks& c);                    // cpu_checks.cpp: multicall, segment bases, fpu_taskswitch
void run_assist_checks(Checks& c);                 // assist_checks.cpp: vm_assist, debug registers
void run_grant_checks(Checks& c, const Boot& boot); // grant_checks.cpp: the grant table's frames, mapped by us
// grant_checks.cpp, "grant-to=D [table]" instead of the checks: grants a
// frame of ours (ref 9, read-only; with table our L4, writable) to domain
// D and waits for D to map and unmap it.
void run_grant_offer(const Boot& boot, domid_t to, bool table);
// grant_checks.cpp, "grant-map-from=D" instead of the checks: maps D's
// ref 9 (read-only) by address, by entry and for a device, reads it,
// unmaps the first and ends with the other two still mapped.
void run_grant_map_from(const Boot& boot, domid_t from);
// grant_checks.cpp: our own domain id (DOMID_INVALID if it cannot be
// found): Xen's dom0 is 0, a domU learns it from no start_info field.
domid_t own_domid();
void run_vcpu_checks(Checks& c);                   // vcpu_checks.cpp: is_up, runstate and its area
void run_smp_checks(Checks& c, const Boot& boot);  // smp_checks.cpp: bringing up vCPU 1
void run_vcpu_info_checks(Checks& c, const Boot& boot); // vcpu_checks.cpp: vcpu_info moved (last)
void run_pt_write_checks(Checks& c, const Boot& boot); // pt_write_checks.cpp: writes to our read-only L1s
void run_mmu_checks(Checks& c, const Boot& boot);      // mmu_checks.cpp: pins, updates, flushes, reservation
void run_l4_handover_checks(Checks& c, const Boot& boot); // mmu_checks.cpp: a new kernel L4, as Linux's first step
void run_fuzzer(const Boot& boot, unsigned long calls, uint64_t seed); // fuzz.cpp: "fuzz=N" instead of the checks
// basic_checks.cpp, "echo-input" instead of the checks: reads a line typed
// on the console from the console ring (a domU's) and prints it.
void echo_console_input(const Boot& boot);
// gdt_checks.cpp, "selectors=S [yields=N] [failsafe]" instead of the checks:
// loads S into DS, ES, FS and GS, yields N times and says whether they
// stayed; with failsafe, then makes S's descriptor not present and waits
// for the failsafe callback.
void run_selector_mode(const Boot& boot, uint16_t sel, unsigned long yields, bool failsafe);

// vCPU 0's vcpu_info: in shared_info, or where register_vcpu_info moved it.
extern volatile vcpu_info* g_moved_vcpu_info;
volatile vcpu_info* my_vcpu_info();

// The event callback's record (trap_checks.cpp, traps.S: pv_event_entry).
extern volatile unsigned g_upcalls;
extern volatile uint64_t g_upcall_sel, g_upcall_ports, g_upcall_rflags;

// The trap checks' handlers, for other groups: install the table, expect
// one exception (the handler resumes at `resume`), and what it saw.
struct TrapSeen {
    uint64_t vector, error, rip, cs;
    unsigned count;
};
long install_trap_table();
void expect_trap_at(uint64_t resume);
TrapSeen last_trap();
volatile uint64_t* expect_trap_resume(); // where the handler resumes (an instruction's end, set by asm)

// shared_info, once the basic checks have mapped it (nullptr before).
volatile shared_info* shared_info_page();

// The value after `key` (e.g. "fuzz=") in a command line, or nullptr; and
// a decimal number at p (up to the first non-digit).
const char* find_arg(const char* cmdline, const char* key);
unsigned long parse_number(const char* p);

// Frames and page tables (user_checks.cpp): a one-op mmuext_op on our
// own behalf; the machine frame behind one of our kernel addresses; frame
// `mfn` filled with `bytes` (the rest zero) through a window page of ours.
long mmuext(unsigned cmd, uint64_t mfn);
long invlpg(uint64_t va); // MMUEXT_INVLPG_LOCAL
uint64_t own_mfn(const Boot& b, const void* va);
bool fill(const Boot& b, uint64_t mfn, const void* bytes, size_t n);
// Runs the user program code (a label inside user_mode.S's user page) in
// guest user mode until its "done" system call; user_checks set the stage.
void enter_user_at(const unsigned char* code);
// mmu_checks.cpp: the machine address of the L1 entry that maps `va` in
// our bootstrap tables (every level present), and the entry at such an
// address as we read it (bootstrap tables only).
uint64_t l1_entry_address(const Boot& b, uint64_t va);
uint64_t read_entry(uint64_t entry_maddr);
void run_bench(const Boot& boot); // bench.cpp: "bench" on the command line, after the checks
// The frames below the top of our RAM that no mapping of ours names, by
// their user: n - 1 .. n - 6 user_checks (its user space), n - 7
// pt_write_checks, n - 9 .. n - 11 the bench, n - 12 .. n - 15 mmu_checks;
// n - 16 and below the fuzzer; the checks also use n - 17 (grants) and
// n - 18 (the L4 handover).

// x86 page-table entry bits used by the checks.
inline constexpr uint64_t PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_A = 1u << 5, PTE_D = 1u << 6;

// The kernel's own pseudo-physical layout (kernel.ld, head.S).
inline constexpr uint64_t VIRT_BASE = 0xffffffff80000000;

} // namespace pv
