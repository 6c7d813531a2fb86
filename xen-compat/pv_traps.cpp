// PV vCPU exceptions (pv_traps.hpp).
#include "pv_traps.hpp"

#include <xen/sched.h>

#include "arch/cpu.hpp"
#include "arch/pte.hpp"
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "domain/domain.hpp"
#include "pv_bounce.hpp"
#include "pv_cpuid.hpp"
#include "pv_domain.hpp"
#include "pv_priv_op.hpp"
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

// The vCPU the current thread is; nullptr if it is not a PV vCPU.
PvVcpu* current_vcpu(Thread& t) {
    PvDomain* pv = pv_domain(*t.domain);
    return pv && t.xen_vcpu < pv->nr_vcpus ? &pv->vcpu[t.xen_vcpu] : nullptr;
}

// Hands exception `vector` to the guest's handler; false if there is none
// or its frame cannot be written.
bool bounce(Thread& t, arch::InterruptFrame& f, uint64_t vector) {
    PvVcpu* v = current_vcpu(t);
    shared_info* shared = t.domain->events.shared;
    if (!v || !v->traps || !shared || vector > 255) return false;
    const trap_info& handler = v->traps[vector];
    if (!handler.address) return false;
    vcpu_info& vi = shared->vcpu_info[t.xen_vcpu];
    GuestContext at;
    at.rip = f.rip;
    at.cs = f.cs;
    at.rflags = f.rflags;
    at.rsp = f.rsp;
    at.ss = f.ss;
    at.rcx = f.rcx;
    at.r11 = f.r11;
    at.kernel_mode = t.guest_mode == GuestMode::PvKernel;
    // (Guest user mode comes with its own L4 and stack: not yet.)
    if (!at.kernel_mode) return false;
    uint64_t error = f.error_code;
    if (vector == 14) {
        // The guest kernel runs in ring 3, so the CPU sets U: it is the
        // guest's mode that the guest must see.
        error &= ~kPfUser;
        vi.arch.cr2 = arch::read_cr2();
    }
    const bool saved_mask = __atomic_load_n(&vi.evtchn_upcall_mask, __ATOMIC_ACQUIRE) != 0;
    const Bounce b = make_bounce(has_error_code(vector) ? BounceKind::ExceptionWithError : BounceKind::Exception, at,
                                 f.rsp, handler.address, saved_mask, error);
    if (!copy_to_user(b.frame_rsp, b.words, b.count * sizeof(uint64_t))) return false;
    if (TI_GET_IF(&handler)) __atomic_store_n(&vi.evtchn_upcall_mask, 1, __ATOMIC_RELEASE);
    f.rip = b.rip;
    f.cs = b.cs;
    f.ss = b.ss;
    f.rflags = b.rflags;
    f.rsp = b.frame_rsp;
    return true;
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
        __atomic_store_n(&d.events.shared->vcpu_info[t.xen_vcpu].evtchn_upcall_mask,
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
    default: return false;   // (MSRs, control registers, hlt, ...: not yet)
    }
    f.rip += insn->length;
    return true;
}

// The domain dies alone, as Xen's domain_crash: logged with the reason.
void crash(Thread& t, const char* why) {
    log_error("d%u '%s' vCPU %u: %s: domain crashed", t.domain->id, t.domain->name, t.xen_vcpu, why);
    domain_kill(*t.domain, SHUTDOWN_crash, "crashed");
}

} // namespace

bool pv_exception(arch::InterruptFrame& f) {
    Thread& t = *current_thread();
    return emulate(t, f) || bounce(t, f, f.vector);
}

CallResult set_trap_table(uint64_t traps) {
    Thread& t = *current_thread();
    PvVcpu* v = current_vcpu(t);
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

CallResult stack_switch(uint64_t ss, uint64_t sp) {
    Thread& t = *current_thread();
    PvVcpu* v = current_vcpu(t);
    if (!v) return Err::NotSupported;
    // The stack a bounce from user mode lands on: any selector the guest
    // may load, an address it may use.
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
    // Only the flat selectors exist for a guest yet (no guest GDT): any
    // other would fault the hypervisor's own iretq.
    if (!r || r->to_user || r->cs != FLAT_KERNEL_CS64 || r->ss != FLAT_KERNEL_SS64) {
        crash(t, r && r->to_user ? "HYPERVISOR_iret to guest user mode (not yet supported)"
                                 : "HYPERVISOR_iret with a bad frame");
        return 0;
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
    __atomic_store_n(&shared->vcpu_info[t.xen_vcpu].evtchn_upcall_mask, r->mask_events ? 1 : 0,
                     __ATOMIC_RELEASE);
    return 0;
}

} // namespace virtue::xen
