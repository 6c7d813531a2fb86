// PV vCPU exceptions (pv_traps.hpp).
#include "pv_traps.hpp"

#include <xen/callback.h>
#include <xen/sched.h>

#include "arch/cpu.hpp"
#include "arch/paging.hpp"
#include "arch/pte.hpp"
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "domain/domain.hpp"
#include "pv_bounce.hpp"
#include "pv_cpuid.hpp"
#include "pv_domain.hpp"
#include "pv_gdt.hpp"
#include "pv_msr.hpp"
#include "pv_priv_op.hpp"
#include "pv_page_tables.hpp"
#include "pv_pt_write.hpp"
#include "arch/tlb.hpp"
#include "sched/scheduler.hpp"
#include "vm/user_memory.hpp"
#include "xen_handlers.hpp"
#include "xen-compat/op_args.hpp"

namespace virtue::xen {
namespace {

constexpr uint64_t kUd = 6, kGp = 13;

CpuidRegs host_cpuid(uint32_t leaf, uint32_t subleaf) {
    const arch::CpuidResult r = arch::cpuid(leaf, subleaf);
    return CpuidRegs{r.eax, r.ebx, r.ecx, r.edx};
}

// Reads the bytes at the faulting instruction (fewer near the end of a
// mapping); 0 if none can be read.
size_t fetch(uint64_t rip, uint8_t (&bytes)[16]) {
    for (size_t n = sizeof bytes; n > 0; n--)
        if (copy_from_user(bytes, rip, n)) return n;
    return 0;
}

void set_low32(uint64_t& reg, uint32_t v) { reg = v; } // a 32-bit result zero-extends

// Vectors whose exceptions push an error code.
constexpr bool has_error_code(uint64_t v) {
    return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21;
}

constexpr uint64_t kPfUser = 1u << 2; // the #PF error code's U bit

// An address a guest may use: canonical, outside the hypervisor's range.
bool guest_code_address(uint64_t a) {
    return is_canonical(a) && !(a >= 0xffff800000000000ull && a < arch::PV_GUEST_UPPER_START);
}


// Switches the vCPU between guest kernel and guest user mode: its mode,
// and the L4 its address space loads (now, on this CPU).
void enter_mode(Thread& t, PvVcpu& v, GuestMode mode) {
    t.guest_mode = mode;
    v.aspace->root = to_phys(Mfn(mode == GuestMode::PvUser ? v.base.user_l4 : v.base.kernel_l4));
    arch::load_root(v.aspace->root);
    sched_set_user_gs(mode == GuestMode::PvUser ? v.gs_user : v.gs_kernel);
}

GuestContext context_of(const Thread& t, const arch::InterruptFrame& f) {
    GuestContext at;
    at.rip = f.rip;
    at.cs = f.cs;
    at.rflags = f.rflags;
    at.rsp = f.rsp;
    at.ss = f.ss;
    at.rcx = f.rcx;
    at.r11 = f.r11;
    at.kernel_mode = t.guest_mode == GuestMode::PvKernel;
    return at;
}

// Writes bounce b on the guest kernel's stack and enters its handler (from
// user mode: in kernel mode, on the kernel L4). False if the frame cannot
// be written (nothing changed then).
bool deliver(Thread& t, PvVcpu& v, arch::InterruptFrame& f, const Bounce& b) {
    const bool from_user = t.guest_mode != GuestMode::PvKernel;
    if (from_user) enter_mode(t, v, GuestMode::PvKernel);
    if (!copy_to_user(b.frame_rsp, b.words, b.count * sizeof(uint64_t))) {
        if (from_user) enter_mode(t, v, GuestMode::PvUser);
        return false;
    }
    f.rip = b.rip;
    f.cs = b.cs;
    f.ss = b.ss;
    f.rflags = b.rflags;
    f.rsp = b.frame_rsp;
    return true;
}

// The stack a bounce goes on: where the guest kernel was, or from user mode
// the one stack_switch named (0: none, which crashes the domain).
uint64_t bounce_stack(const Thread& t, const PvVcpu& v, const arch::InterruptFrame& f) {
    return t.guest_mode == GuestMode::PvKernel ? f.rsp : v.kernel_sp;
}

// Hands exception `vector` to the guest's handler; false if there is none
// or its frame cannot be written. A software interrupt (int $n) has no
// error code, whatever its vector.
bool bounce(Thread& t, arch::InterruptFrame& f, uint64_t vector, uint64_t cr2, bool software = false) {
    PvVcpu* v = pv_vcpu(t);
    shared_info* shared = t.domain->events.shared;
    if (!v || !v->traps || !shared || vector > 255) return false;
    const trap_info& handler = v->traps[vector];
    const uint64_t stack = bounce_stack(t, *v, f);
    if (!handler.address || !stack) return false;
    vcpu_info& vi = evtchn_vcpu_info(t.domain->events, t.xen_vcpu);
    const GuestContext at = context_of(t, f);
    uint64_t error = f.error_code;
    if (vector == 14) {
        // The guest kernel runs in ring 3, so the CPU always sets U: the
        // guest must see its own mode there.
        error = at.kernel_mode ? error & ~kPfUser : error | kPfUser;
        vi.arch.cr2 = cr2;
    }
    const bool saved_mask = __atomic_load_n(&vi.evtchn_upcall_mask, __ATOMIC_ACQUIRE) != 0;
    const Bounce b = make_bounce(has_error_code(vector) && !software ? BounceKind::ExceptionWithError
                                                                     : BounceKind::Exception,
                                 at, stack, handler.address, saved_mask, error);
    if (!deliver(t, *v, f, b)) return false;
    if (TI_GET_IF(&handler)) __atomic_store_n(&vi.evtchn_upcall_mask, 1, __ATOMIC_RELEASE);
    return true;
}

// General register n (x86 numbering: 0 rax .. 15 r15) of the frame.
uint64_t* gpr_ref(arch::InterruptFrame& f, unsigned n) {
    uint64_t* regs[16] = {&f.rax, &f.rcx, &f.rdx, &f.rbx, &f.rsp, &f.rbp, &f.rsi, &f.rdi,
                          &f.r8,  &f.r9,  &f.r10, &f.r11, &f.r12, &f.r13, &f.r14, &f.r15};
    return regs[n & 15];
}

// CR0.TS as the guest sees it: set by fpu_taskswitch (or a mov to CR0),
// cleared by clts and when the #NM it asked for is delivered.
void set_ts(Thread& t, bool on) {
    t.fpu_trap = on;
    if (on) arch::stts();
    else arch::clts();
}

// rdmsr/wrmsr (pv_msr.hpp): ECX the MSR, EDX:EAX the value. False: a #GP
// for the guest.
bool emulate_msr(Thread& t, arch::InterruptFrame& f, bool write) {
    PvVcpu* v = pv_vcpu(t);
    if (!v) return false;
    PvMsrState s{t.fs_base, v->gs_kernel, v->gs_user, t.xen_vcpu};
    const PvMsrHost host{arch::rdmsr(arch::MSR_EFER), arch::rdtsc()};
    const uint32_t msr = static_cast<uint32_t>(f.rcx);
    if (!write) {
        auto value = pv_rdmsr(msr, s, host);
        if (!value) return false;
        f.rax = *value & 0xffffffff;
        f.rdx = *value >> 32;
        return true;
    }
    if (!pv_wrmsr(msr, (f.rdx << 32) | (f.rax & 0xffffffff), s, host)) return false;
    if (s.fs_base != t.fs_base) {
        t.fs_base = s.fs_base;
        arch::set_fs_base(s.fs_base);
    }
    // (The guest kernel runs now: its GS base is the live one.)
    if (s.gs_base_kernel != v->gs_kernel) sched_set_user_gs(v->gs_kernel = s.gs_base_kernel);
    v->gs_user = s.gs_base_user;
    return true;
}

// Control registers, as Xen shows them to a PV kernel: CR0 is the CPU's
// with the guest's TS, and only TS may change; CR2 the last fault address
// the guest was given; CR3 its kernel L4; CR4 the host's PAE, MCE, OSFXSR
// and OSXMMEXCPT with the one bit the guest keeps (DE; writes of the
// others are ignored). False: a #GP for the guest.
bool emulate_cr(Thread& t, arch::InterruptFrame& f, const PrivInsn& insn) {
    constexpr uint64_t kTs = 1u << 3, kCr4De = 1u << 3;
    constexpr uint64_t kCr4Host = (1u << 5) /*PAE*/ | (1u << 6) /*MCE*/ | (1u << 9) /*OSFXSR*/ | (1u << 10) /*OSXMMEXCPT*/;
    PvVcpu* v = pv_vcpu(t);
    if (!v) return false;
    uint64_t& reg = *gpr_ref(f, insn.gpr);
    const uint64_t cr0 = (arch::read_cr0() & ~kTs) | (t.fpu_trap ? kTs : 0);
    if (insn.op == PrivOp::MovFromCr) {
        switch (insn.cr) {
        case 0: reg = cr0; return true;
        case 2: reg = t.domain->events.shared ? evtchn_vcpu_info(t.domain->events, t.xen_vcpu).arch.cr2 : 0; return true;
        case 3: reg = v->base.kernel_l4 << 12; return true;
        case 4: reg = (arch::read_cr4() & kCr4Host) | v->cr4_guest; return true;
        default: return false;
        }
    }
    switch (insn.cr) {
    case 0:
        if ((reg ^ cr0) & ~kTs) return false;
        set_ts(t, reg & kTs);
        return true;
    case 4: v->cr4_guest = reg & kCr4De; return true;
    default: return false; // (CR3: Linux switches tables with MMUEXT_NEW_BASEPTR)
    }
}

// The emulated privileged instructions (above); false: not one of them.
bool emulate(Thread& t, arch::InterruptFrame& f) {
    // Only the guest kernel's privileged instructions are emulated; in
    // guest user mode they fault as on hardware.
    if (t.guest_mode != GuestMode::PvKernel || (f.vector != kUd && f.vector != kGp)) return false;
    if (f.vector == kGp && f.error_code != 0) return false;
    uint8_t bytes[16];
    const size_t n = fetch(f.rip, bytes);
    auto insn = decode_priv_op(bytes, n);
    if (!insn) return false;
    // The forced CPUID arrives as #UD (its ud2); everything else as #GP.
    if ((insn->op == PrivOp::Cpuid) != (f.vector == kUd)) return false;
    switch (insn->op) {
    case PrivOp::Cpuid: {
        const CpuidRegs r = pv_cpuid(static_cast<uint32_t>(f.rax), static_cast<uint32_t>(f.rcx), host_cpuid);
        set_low32(f.rax, r.eax);
        set_low32(f.rbx, r.ebx);
        set_low32(f.rcx, r.ecx);
        set_low32(f.rdx, r.edx);
        break;
    }
    case PrivOp::Cli:
    case PrivOp::Sti: {
        Domain& d = *t.domain;
        if (!d.events.shared || t.xen_vcpu >= XEN_LEGACY_MAX_VCPUS) return false;
        __atomic_store_n(&evtchn_vcpu_info(d.events, t.xen_vcpu).evtchn_upcall_mask,
                         insn->op == PrivOp::Cli ? 1 : 0, __ATOMIC_RELEASE);
        break;
    }
    case PrivOp::In: {
        const uint64_t ones = insn->size == 4 ? 0xffffffffull : insn->size == 2 ? 0xffff : 0xff;
        if (insn->size == 4) f.rax = ones;
        else f.rax = (f.rax & ~ones) | ones;
        break;
    }
    case PrivOp::Out: break; // dropped: no port belongs to a domain
    case PrivOp::RdMsr:
    case PrivOp::WrMsr:
        if (!emulate_msr(t, f, insn->op == PrivOp::WrMsr)) return false;
        break;
    case PrivOp::MovFromCr:
    case PrivOp::MovToCr:
        if (!emulate_cr(t, f, *insn)) return false;
        break;
    case PrivOp::Clts: set_ts(t, false); break;
    case PrivOp::Wbinvd: break; // (nothing of a domain's is in a cache it could not reach by itself)
    default: return false;      // hlt: Linux blocks with SCHEDOP_block instead
    }
    f.rip += insn->length;
    return true;
}

// A write-protection fault of the guest kernel on one of its own L1 page
// tables (mapped read-only, as every table is): the write is decoded
// (pv_pt_write.hpp), checked and stored as mmu_update would, and the
// instruction stepped over. False: not such a write, or refused (the
// fault then goes to the guest as a #PF).
bool emulate_pt_write(Thread& t, arch::InterruptFrame& f, uint64_t cr2) {
    constexpr uint64_t kPresentWrite = 3;
    if (t.guest_mode != GuestMode::PvKernel || f.vector != 14 || (f.error_code & kPresentWrite) != kPresentWrite)
        return false;
    PvVcpu* v = pv_vcpu(t);
    if (!v) return false;
    Domain& d = *t.domain;
    uint8_t bytes[16];
    const size_t n = fetch(f.rip, bytes);
    auto w = pv::decode_pt_write(bytes, n);
    const unsigned offset = static_cast<unsigned>(cr2 & 7);
    if (!w || offset + w->size > 8) return false;
    pv::PtWriteRegs regs;
    for (unsigned i = 0; i < 16; i++) regs.gpr[i] = *gpr_ref(f, i);
    regs.rflags = f.rflags;
    bool flush = false;
    {
        PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
        PvMmuEnv env(d);
        // The frame the faulting address maps, through the current kernel L4.
        uint64_t table = v->base.kernel_l4;
        uint64_t e = 0;
        for (unsigned level = 4; level >= 1; level--) {
            e = env.table(Mfn(table))[(cr2 >> (12 + 9 * (level - 1))) & 511];
            if (!(e & pte::P) || (level > 1 && (e & pte::PS))) return false;
            table = (e & pte::ADDR_MASK) >> 12;
        }
        const FrameInfo* target = env.frame(Mfn(table));
        if (!target || target->owner != d.id || target->type != PageType::L1 || target->type_count == 0) return false;
        const unsigned slot = static_cast<unsigned>((cr2 & 0xfff) >> 3);
        const uint64_t old = __atomic_load_n(&env.table(Mfn(table))[slot], __ATOMIC_ACQUIRE);
        const uint64_t part = pv::apply_pt_write(*w, pv::extract_from_entry(old, offset, w->size), regs);
        const uint64_t now = pv::merge_into_entry(old, offset, w->size, part);
        if (now != old) {
            pv::PageTables<PvMmuEnv> tables(env);
            auto r = tables.update_entry(Mfn(table), slot, now, false);
            if (!r) return false;
            flush = *r;
        }
    }
    // The old translation goes from every CPU that runs the domain (the
    // entry may map anything, anywhere in its address spaces).
    if (flush) PvMmuEnv(d).flush_stale(Mfn(0));
    for (unsigned i = 0; i < 16; i++) *gpr_ref(f, i) = regs.gpr[i];
    constexpr uint64_t kArith = 0x8d5; // CF PF AF ZF SF OF: all a write may change
    f.rflags = (f.rflags & ~kArith) | (regs.rflags & kArith);
    f.rip += w->length;
    return true;
}

// The domain dies alone, as Xen's domain_crash: logged with the reason.
void crash(Thread& t, const char* why) {
    log_error("d%u '%s' vCPU %u: %s: domain crashed", t.domain->id, t.domain->name, t.xen_vcpu, why);
    domain_kill(*t.domain, SHUTDOWN_crash, "crashed");
}

} // namespace

namespace {
// `int $n` from the guest: every IDT gate but int3's and into's has DPL 0,
// so it arrives as #GP with the IDT bit in the error code and n above it.
// As in Xen, it is delivered as vector n (after the 2-byte instruction, no
// error code) when the guest's trap table has a handler for n that its
// mode may reach: DPL 1 or more from guest kernel mode, 3 from user mode.
// (Under QEMU the error code carries n * 16, not n * 8: docs/pv-oracle.md.)
bool soft_interrupt(Thread& t, arch::InterruptFrame& f) {
    if (f.vector != kGp || (f.error_code & 3) != 2) return false;
    const uint64_t n = (f.error_code & 0xffff) >> 3;
    PvVcpu* v = pv_vcpu(t);
    if (!v || !v->traps || n > 255 || !v->traps[n].address) return false;
    const unsigned dpl = TI_GET_DPL(&v->traps[n]);
    if (dpl < (t.guest_mode == GuestMode::PvKernel ? 1u : 3u)) return false;
    const uint64_t at = f.rip;
    f.rip += 2;
    if (bounce(t, f, n, 0, true)) return true;
    f.rip = at;
    return false;
}
} // namespace

bool pv_exception(arch::InterruptFrame& f) {
    Thread& t = *current_thread();
    if (f.vector == 7 && t.fpu_trap) {
        // The guest asked for #NM (fpu_taskswitch): it gets it, and its TS
        // is clear again, as Xen clears it when it delivers the fault.
        t.fpu_trap = false;
        arch::clts();
    }
    // (CR2 first: reading the instruction may fault and change it.)
    const uint64_t cr2 = f.vector == 14 ? arch::read_cr2() : 0;
    return soft_interrupt(t, f) || emulate(t, f) || emulate_pt_write(t, f, cr2) || bounce(t, f, f.vector, cr2);
}

CallResult fpu_taskswitch(uint64_t set) {
    Thread& t = *current_thread();
    if (!pv_vcpu(t)) return Err::NotSupported;
    set_ts(t, set != 0);
    return 0;
}

CallResult set_debugreg(uint64_t reg, uint64_t value) {
    PvVcpu* v = pv_vcpu(*current_thread());
    if (!v) return Err::NotSupported;
    if (reg == 4 || reg == 5) reg += 2; // (the guest's CR4.DE is clear: DR4/DR5 are DR6/DR7)
    constexpr uint64_t kDr6Fixed = 0xffff0ff0, kDr6Status = 0xe00f, kDr7Fixed = 0x400, kDr7Enables = 0xff;
    switch (reg) {
    case 0: case 1: case 2: case 3:
        // A guest address, never the top page (its values read back as errnos).
        if (!guest_code_address(value) || value >= ~uint64_t{0xfff}) return Err::NotPermitted;
        v->debugreg[reg] = value;
        return 0;
    case 6: v->debugreg[6] = (value & kDr6Status) | kDr6Fixed; return 0;
    case 7:
        if (value >> 32) return Err::InvalidArgument;
        if (value & kDr7Enables) return Err::NotSupported; // (breakpoints are not armed)
        v->debugreg[7] = (value & 0xffff0300) | kDr7Fixed;
        return 0;
    default: return Err::NoSuchRegister;
    }
}

CallResult get_debugreg(uint64_t reg) {
    PvVcpu* v = pv_vcpu(*current_thread());
    if (!v) return Err::NotSupported;
    if (reg == 4 || reg == 5) reg += 2;
    if (reg > 7) return Err::NoSuchRegister;
    return static_cast<int64_t>(v->debugreg[reg]);
}

CallResult vm_assist(uint64_t cmd, uint64_t type) {
    PvDomain* pv = pv_domain(*current_thread()->domain);
    if (!pv) return Err::NotSupported;
    // What Xen offers a 64-bit PV guest.
    constexpr uint64_t kOffered = (1ull << VMASST_TYPE_4gb_segments) | (1ull << VMASST_TYPE_4gb_segments_notify) |
                                  (1ull << VMASST_TYPE_writable_pagetables) | (1ull << VMASST_TYPE_pae_extended_cr3) |
                                  (1ull << VMASST_TYPE_architectural_iopl) |
                                  (1ull << VMASST_TYPE_runstate_update_flag) | (1ull << VMASST_TYPE_m2p_strict);
    if (cmd != VMASST_CMD_enable && cmd != VMASST_CMD_disable) return Err::NotSupported;
    if (type >= 64 || !(kOffered & (1ull << type))) return Err::InvalidArgument;
    if (cmd == VMASST_CMD_enable) __atomic_fetch_or(&pv->vm_assist, 1ull << type, __ATOMIC_RELAXED);
    else __atomic_fetch_and(&pv->vm_assist, ~(1ull << type), __ATOMIC_RELAXED);
    return 0;
}

CallResult set_segment_base(uint64_t which, uint64_t base) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    if (!v) return Err::NotSupported;
    // A base the guest may use: canonical, never in the hypervisor's range
    // (the NMI entry tells the hypervisor's GS from a guest's by it).
    if (which != SEGBASE_GS_USER_SEL && !guest_code_address(base)) return Err::InvalidArgument;
    switch (which) {
    case SEGBASE_FS:
        t.fs_base = base;
        arch::set_fs_base(base);
        return 0;
    case SEGBASE_GS_KERNEL:
        v->gs_kernel = base;
        if (t.guest_mode == GuestMode::PvKernel) sched_set_user_gs(base);
        return 0;
    case SEGBASE_GS_USER:
        v->gs_user = base;
        if (t.guest_mode == GuestMode::PvUser) sched_set_user_gs(base);
        return 0;
    case SEGBASE_GS_USER_SEL:
        // As Xen: a selector that does not load is loaded as null, no error.
        pv_load_user_gs_selector(t, *v, static_cast<uint16_t>(base));
        return 0;
    default: return Err::InvalidArgument;
    }
}

namespace {
// The guest is to be resumed at f with a CS or SS its GDT does not allow:
// the fault the CPU's iretq would raise there (#NP for a descriptor not
// present, #GP otherwise, the selector as error code) goes to the guest's
// handler for that context; without one the domain crashes, as on Xen.
void bounce_selector_fault(Thread& t, arch::InterruptFrame& f) {
    const SelectorFault fault = pv_selector_fault(t, f.cs, f.ss);
    f.error_code = fault.error;
    if (!bounce(t, f, fault.vector, 0)) {
        crash(t, "resumed with a selector its GDT does not allow, and no handler for the fault");
        user_return_work(f); // leaves: the domain is dying (its iretq would fault)
    }
}

// A data selector of the guest's would not load when it was switched in
// (pv_gdt.cpp): as Xen, its failsafe callback gets the context and the
// selectors it had (now null). Without a callback the domain crashes.
// False if the guest does not go on (crashed).
bool deliver_failsafe(Thread& t, arch::InterruptFrame& f) {
    PvVcpu* v = pv_vcpu(t);
    if (!v || !v->failsafe_due) return true;
    v->failsafe_due = false;
    GuestContext at = context_of(t, f);
    at.ds = v->failsafe_selectors.ds;
    at.es = v->failsafe_selectors.es;
    at.fs = v->failsafe_selectors.fs;
    at.gs = v->failsafe_selectors.gs;
    vcpu_info& vi = evtchn_vcpu_info(t.domain->events, t.xen_vcpu);
    const bool mask = __atomic_load_n(&vi.evtchn_upcall_mask, __ATOMIC_ACQUIRE) != 0;
    const uint64_t stack = bounce_stack(t, *v, f);
    if (!v->failsafe_callback || !stack ||
        !deliver(t, *v, f, make_bounce(BounceKind::Failsafe, at, stack, v->failsafe_callback, mask))) {
        crash(t, "a data selector of its would not load, and no failsafe callback takes it");
        user_return_work(f); // leaves: the domain is dying
        return false;
    }
    if (v->failsafe_masks_events) __atomic_store_n(&vi.evtchn_upcall_mask, 1, __ATOMIC_RELEASE);
    return true;
}

// The event upcall pv_before_guest found due (out of its line: the common
// return to the guest has none).
[[gnu::noinline]] void deliver_upcall(Thread& t, vcpu_info& vi, arch::InterruptFrame& f) {
    PvVcpu* v = pv_vcpu(t);
    if (!v || !v->event_callback) return; // (with no callback yet, the event stays pending, as in Xen)
    const uint64_t stack = bounce_stack(t, *v, f);
    const Bounce b = make_bounce(BounceKind::Event, context_of(t, f), stack, v->event_callback, false);
    if (!stack || !deliver(t, *v, f, b)) {
        crash(t, "an event upcall cannot be written on the guest kernel stack");
        return;
    }
    __atomic_store_n(&vi.evtchn_upcall_mask, 1, __ATOMIC_RELEASE);
}
} // namespace

namespace {
// pv_before_guest when more than an upcall may be due: the selectors, a
// failsafe callback, then the upcall.
[[gnu::noinline]] void before_guest_slow(Thread& t, arch::InterruptFrame& f) {
    Domain& d = *t.domain;
    // A dying domain's thread leaves here (never through an iretq with
    // selectors that may not load).
    if (d.dying()) user_return_work(f);
    if (!d.events.shared) return;
    // The guest changed the descriptor its CS or SS names meanwhile (its
    // GDT is its own): resuming there would fault the hypervisor's iretq;
    // the guest gets that fault, as on Xen.
    if (!pv_selectors_ok(t, f.cs, f.ss)) {
        bounce_selector_fault(t, f);
        return;
    }
    if (t.resume_work) {
        t.resume_work = false;
        if (!deliver_failsafe(t, f)) return;
    }
    vcpu_info& vi = evtchn_vcpu_info(d.events, t.xen_vcpu);
    if (__atomic_load_n(&vi.evtchn_upcall_pending, __ATOMIC_ACQUIRE) &&
        !__atomic_load_n(&vi.evtchn_upcall_mask, __ATOMIC_ACQUIRE))
        deliver_upcall(t, vi, f);
}
} // namespace

void pv_before_guest(arch::InterruptFrame& f) {
    // On every return to a PV guest: a few loads in the common case, the
    // vCPU's state only when something is due.
    Thread& t = *current_thread();
    if (!pv_selectors_ok(t, f.cs, f.ss) || t.resume_work) [[unlikely]]
        return before_guest_slow(t, f);
    EventTable& events = t.domain->events;
    if (!events.shared) [[unlikely]]
        return;
    vcpu_info& vi = evtchn_vcpu_info(events, t.xen_vcpu);
    if (!__atomic_load_n(&vi.evtchn_upcall_pending, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&vi.evtchn_upcall_mask, __ATOMIC_ACQUIRE)) [[likely]]
        return;
    if (!t.domain->dying()) deliver_upcall(t, vi, f);
}

void pv_upcall(Domain& d, uint32_t vcpu) {
    PvDomain* pv = pv_domain(d);
    if (pv && vcpu < pv->nr_vcpus && pv->vcpu[vcpu] && pv->vcpu[vcpu]->thread) sched_kick(*pv->vcpu[vcpu]->thread);
}

void pv_masked_pending(Domain& d) {
    PvDomain* pv = pv_domain(d);
    if (!pv) return;
    // Every polling vCPU looks again at the ports it waits for.
    for (uint64_t set = __atomic_load_n(&pv->polling, __ATOMIC_SEQ_CST); set; set &= set - 1)
        pv_upcall(d, static_cast<uint32_t>(__builtin_ctzll(set)));
}

void pv_user_syscall(arch::InterruptFrame& f) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    shared_info* shared = t.domain->events.shared;
    if (!v || !shared || !v->syscall_callback || !v->kernel_sp) {
        crash(t, "syscall from guest user mode with no syscall callback or kernel stack");
        return;
    }
    vcpu_info& vi = evtchn_vcpu_info(t.domain->events, t.xen_vcpu);
    const bool saved_mask = __atomic_load_n(&vi.evtchn_upcall_mask, __ATOMIC_ACQUIRE) != 0;
    const Bounce b = make_bounce(BounceKind::Syscall, context_of(t, f), v->kernel_sp, v->syscall_callback, saved_mask);
    if (!deliver(t, *v, f, b)) {
        crash(t, "the guest kernel stack cannot take a syscall frame");
        return;
    }
    if (v->syscall_masks_events) __atomic_store_n(&vi.evtchn_upcall_mask, 1, __ATOMIC_RELEASE);
}

CallResult set_trap_table(uint64_t traps) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    if (!v || !v->traps) return Err::NotSupported;
    if (!traps) {
        for (unsigned i = 0; i < 256; i++) v->traps[i] = trap_info{};
        return 0;
    }
    // Entries until the one with address 0; each replaces its vector's.
    // Checked as a whole first, so that a refused table changes nothing.
    trap_info table[256];
    unsigned n = 0;
    for (;; n++) {
        if (n == 256) return Err::InvalidArgument; // no end within a table's worth
        TRY(copy_from_user(&table[n], traps + n * sizeof(trap_info), sizeof(trap_info)));
        if (!table[n].address) break;
        if (!is_canonical(table[n].address) || (table[n].address >= 0xffff800000000000ull &&
                                                table[n].address < arch::PV_GUEST_UPPER_START))
            return Err::InvalidArgument;
    }
    for (unsigned i = 0; i < n; i++) v->traps[table[i].vector] = table[i];
    return 0;
}

namespace {
// One callback of the vCPU: event, failsafe or syscall (the 32-bit and
// sysenter ones do not exist for a 64-bit guest; NMI is not offered).
Status set_callback(PvVcpu& v, uint32_t type, uint32_t flags, uint64_t address) {
    if (address && !guest_code_address(address)) return Err::InvalidArgument;
    switch (type) {
    case CALLBACKTYPE_event: v.event_callback = address; return Status::success();
    case CALLBACKTYPE_failsafe:
        v.failsafe_callback = address;
        v.failsafe_masks_events = (flags & CALLBACKF_mask_events) != 0;
        return Status::success();
    case CALLBACKTYPE_syscall:
        v.syscall_callback = address;
        v.syscall_masks_events = (flags & CALLBACKF_mask_events) != 0;
        return Status::success();
    default: return Err::InvalidArgument;
    }
}
} // namespace

CallResult set_callbacks(uint64_t event, uint64_t failsafe, uint64_t syscall) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    if (!v) return Err::NotSupported;
    if ((event && !guest_code_address(event)) || (failsafe && !guest_code_address(failsafe)) ||
        (syscall && !guest_code_address(syscall)))
        return Err::InvalidArgument;
    (void)set_callback(*v, CALLBACKTYPE_event, 0, event);
    (void)set_callback(*v, CALLBACKTYPE_failsafe, 0, failsafe);
    (void)set_callback(*v, CALLBACKTYPE_syscall, 0, syscall);
    return 0;
}

CallResult callback_op(uint64_t cmd, uint64_t arg) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    if (!v) return Err::NotSupported;
    switch (cmd) {
    case CALLBACKOP_register: {
        callback_register_t op;
        TRY(copy_from_user(&op, arg, sizeof op));
        TRY(set_callback(*v, op.type, op.flags, op.address));
        return 0;
    }
    case CALLBACKOP_unregister: {
        callback_unregister_t op;
        TRY(copy_from_user(&op, arg, sizeof op));
        TRY(set_callback(*v, op.type, 0, 0));
        return 0;
    }
    default: return Err::NotSupported;
    }
}

CallResult stack_switch(uint64_t ss, uint64_t sp) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    if (!v) return Err::NotSupported;
    // The stack a bounce from user mode lands on: any selector the guest
    // may load (an RPL-0 one, as Linux names its kernel stack, is raised
    // to RPL 3, as Xen does), an address it may use.
    ss = pv_guest_rpl(ss);
    if ((ss & 3) != 3 || !is_canonical(sp)) return Err::InvalidArgument;
    v->kernel_ss = ss;
    v->kernel_sp = sp;
    return 0;
}

CallResult iret() {
    Thread& t = *current_thread();
    arch::InterruptFrame& f = t.user_frame();
    shared_info* shared = t.domain->events.shared;
    uint64_t words[9];
    if (!shared || !copy_from_user(words, f.rsp, sizeof words)) {
        crash(t, "HYPERVISOR_iret with an unreadable frame");
        return 0;
    }
    auto r = pv_iret(words);
    PvVcpu* v = pv_vcpu(t);
    if (!r || !v) {
        crash(t, "HYPERVISOR_iret with a bad frame");
        return 0;
    }
    if (r->to_user) {
        if (!v->base.user_l4) {
            crash(t, "HYPERVISOR_iret to guest user mode with no user page tables");
            return 0;
        }
        enter_mode(t, *v, GuestMode::PvUser);
    }
    f.rip = r->rip;
    f.cs = r->cs;
    f.rflags = r->rflags;
    f.rsp = r->rsp;
    f.ss = r->ss;
    f.rax = r->rax;
    if (r->restore_rcx_r11) {
        f.rcx = r->rcx;
        f.r11 = r->r11;
    }
    __atomic_store_n(&evtchn_vcpu_info(t.domain->events, t.xen_vcpu).evtchn_upcall_mask, r->mask_events ? 1 : 0,
                     __ATOMIC_RELEASE);
    // Selectors the hypervisor's own iretq can load (Xen's flat ones or
    // the vCPU's GDT's): anything else would fault it, as it faults Xen's,
    // and the guest gets that fault for the context it was returning to.
    if (!pv_selectors_ok(t, f.cs, f.ss)) [[unlikely]]
        bounce_selector_fault(t, f);
    return 0;
}

} // namespace virtue::xen
