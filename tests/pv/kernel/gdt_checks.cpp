// Our own GDT: a page of descriptors (user data 0x2b, user code 0x33, as
// Linux has them) becomes our GDT with set_gdt once no writable mapping of
// it is left; its selectors load in kernel mode, update_descriptor adds one
// and refuses a TSS, and the user program runs with CS 0x33. An iret to a
// stack selector whose descriptor was made not present raises #NP there.
#include <stdint.h>
#include <xen/callback.h>
#include <xen/errno.h>
#include <xen/sched.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

extern "C" {
void pv_iret_to(uint64_t ss);
void pv_failsafe_entry();
extern volatile uint64_t pv_failsafe_count, pv_failsafe_es;
}

namespace pv {
namespace {

alignas(4096) uint64_t gdt_page[512];

constexpr uint64_t kData = 0x00cff3000000ffffull;   // present, DPL 3, writable data, 4 GiB
constexpr uint64_t kCode64 = 0x00affb000000ffffull; // present, DPL 3, 64-bit code
constexpr uint64_t kTss = 0x0000e90000000067ull;    // present, DPL 3, available 64-bit TSS
constexpr uint64_t kPresent = 1ull << 47;

long set_gdt(uint64_t* frames, unsigned entries) { return hypercall(__HYPERVISOR_set_gdt, arg(frames), entries); }
long update_descriptor(uint64_t maddr, uint64_t d) { return hypercall(__HYPERVISOR_update_descriptor, maddr, d); }

} // namespace

void run_gdt_checks(Checks& c, const Boot& b) {
    gdt_page[5] = kData;
    gdt_page[6] = kCode64;
    const uint64_t va = reinterpret_cast<uint64_t>(gdt_page);
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    uint64_t mfn = p2m[(va - VIRT_BASE) >> 12];
    c.expect_eq("set_gdt_writable_frame_einval", set_gdt(&mfn, 16), -XEN_EINVAL);
    long rc = update_va_mapping(va, (mfn << 12) | PTE_P | PTE_A, UVMF_INVLPG | UVMF_LOCAL);
    c.expect_eq("set_gdt_returns_0", rc == 0 ? set_gdt(&mfn, 16) : rc, 0);

    uint16_t ds = 0;
    asm volatile("mov %1, %%ds\n\t"
                 "mov %%ds, %0\n\t"
                 "mov %2, %%ds"
                 : "=r"(ds)
                 : "r"(0x2b), "r"(0)
                 : "memory");
    c.expect("gdt_data_selector_loads", ds == 0x2b, "ds 0x%x", ds);
    c.expect_eq("update_descriptor_returns_0", update_descriptor((mfn << 12) + 7 * 8, kData), 0);
    uint16_t es = 0;
    asm volatile("mov %1, %%es\n\t"
                 "mov %%es, %0\n\t"
                 "mov %2, %%es"
                 : "=r"(es)
                 : "r"(0x3b), "r"(0)
                 : "memory");
    c.expect("gdt_updated_selector_loads", es == 0x3b, "es 0x%x", es);
    // (A TSS: Xen refuses it too. A call gate is refused by Virtue but
    // accepted by Xen when it leads into guest code: docs/architecture.md.)
    c.expect_eq("update_descriptor_tss_einval", update_descriptor((mfn << 12) + 8 * 8, kTss), -XEN_EINVAL);
    c.expect_eq("update_descriptor_unaligned_einval", update_descriptor((mfn << 12) + 7 * 8 + 4, kData), -XEN_EINVAL);

    // Entered with the GDT's selectors, it runs to its end; a system call
    // returns as SYSRET would, to the flat CS (its later #UD shows it).
    const uint64_t sys_cs = run_user_program_with(0x33, 0x2b);
    const TrapSeen ud = last_trap();
    c.expect("user_mode_with_gdt_selectors", sys_cs != 0, "the user program entered with cs 0x33 did not finish");
    c.expect("user_syscall_returns_to_flat_cs", ud.count == 1 && (ud.cs & 0xffff) == FLAT_USER_CS64,
             "#UD seen %u times with cs 0x%lx", ud.count, ud.cs);
    // A stack selector whose descriptor is gone: the iret that would
    // resume with it raises #NP (the selector as error code) for the
    // context it was going to, in kernel mode; the handler resumes it with
    // the flat SS.
    c.expect_eq("update_descriptor_not_present_returns_0", update_descriptor((mfn << 12) + 7 * 8, kData & ~kPresent), 0);
    expect_trap_at(0);
    pv_iret_to(0x3b);
    TrapSeen np = last_trap();
    c.info("iret_fault", "%u deliveries, vector %lu error 0x%lx cs 0x%lx", np.count, np.vector, np.error, np.cs);
    c.expect("iret_to_a_gone_stack_selector_raises_np", np.count == 1 && np.vector == 11 && np.error == 0x38 && (np.cs & 3) == 0,
             "%u deliveries, vector %lu error 0x%lx cs 0x%lx", np.count, np.vector, np.error, np.cs);
    expect_trap_at(0);
    pv_iret_to(0x2b);
    np = last_trap();
    c.expect("iret_to_a_good_selector_is_direct", np.count == 0, "%u deliveries, vector %lu", np.count, np.vector);
    // The user GS selector (Linux's load_gs_index) may be one of our GDT's
    // data selectors; back to null before the GDT goes.
    c.expect_eq("segbase_gs_user_sel_gdt_selector", hypercall(__HYPERVISOR_set_segment_base, SEGBASE_GS_USER_SEL, 0x2b), 0);
    c.expect_eq("segbase_gs_user_sel_null", hypercall(__HYPERVISOR_set_segment_base, SEGBASE_GS_USER_SEL, 0), 0);
    c.expect_eq("set_gdt_empty_returns_0", set_gdt(&mfn, 0), 0);
    c.expect_eq("gdt_page_writable_again",
                update_va_mapping(va, (mfn << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL), 0);
}

void run_selector_mode(const Boot& b, uint16_t sel, unsigned long yields, bool failsafe) {
    gdt_page[5] = kData;
    gdt_page[7] = kData;
    const uint64_t va = reinterpret_cast<uint64_t>(gdt_page);
    const uint64_t mfn = reinterpret_cast<const uint64_t*>(b.si->mfn_list)[(va - VIRT_BASE) >> 12];
    long rc = update_va_mapping(va, (mfn << 12) | PTE_P | PTE_A, UVMF_INVLPG | UVMF_LOCAL);
    if (rc == 0) rc = set_gdt(const_cast<uint64_t*>(&mfn), 16);
    if (rc != 0) {
        print("pv-test: selector mode: no GDT (%ld)\n", rc);
        return;
    }
    asm volatile("mov %0, %%ds\n\tmov %0, %%es\n\tmov %0, %%fs\n\tmov %0, %%gs" : : "r"(sel) : "memory");
    unsigned long lost = 0;
    uint16_t seen[4] = {};
    for (unsigned long i = 0; i < yields; i++) {
        (void)sched_op(SCHEDOP_yield, nullptr);
        asm volatile("mov %%ds, %0\n\tmov %%es, %1\n\tmov %%fs, %2\n\tmov %%gs, %3"
                     : "=r"(seen[0]), "=r"(seen[1]), "=r"(seen[2]), "=r"(seen[3]));
        if (seen[0] != sel || seen[1] != sel || seen[2] != sel || seen[3] != sel) lost++;
    }
    print("pv-test: selectors 0x%x kept over %lu yields: %s (%lu times not; last ds 0x%x es 0x%x fs 0x%x gs 0x%x)\n", sel,
          yields, lost ? "no" : "yes", lost, seen[0], seen[1], seen[2], seen[3]);
    if (!failsafe) return;
    // The descriptor under them made not present: when we are switched in
    // next, they no longer load, and the failsafe callback gets them.
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_failsafe;
    cb.address = reinterpret_cast<uint64_t>(pv_failsafe_entry);
    rc = hypercall(__HYPERVISOR_callback_op, CALLBACKOP_register, arg(&cb));
    if (rc == 0) rc = update_descriptor((mfn << 12) + (sel >> 3) * 8, kData & ~kPresent);
    unsigned long waited = 0;
    for (; rc == 0 && waited < 5000 && !pv_failsafe_count; waited++) (void)sched_op(SCHEDOP_yield, nullptr);
    uint16_t es = 0;
    asm volatile("mov %%es, %0" : "=r"(es));
    print("pv-test: failsafe callback: %lu after %lu yields, frame es 0x%lx, es now 0x%x (rc %ld)\n", pv_failsafe_count,
          waited, pv_failsafe_es, es, rc);
}

} // namespace pv
