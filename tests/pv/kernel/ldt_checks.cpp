// Our own LDT, as Linux's modify_ldt gives a process one: a page of
// descriptors, mapped read-only, becomes the LDT with MMUEXT_SET_LDT; its
// selectors are what the CPU sees (lsl), stay so across switches to other
// domains, follow update_descriptor, and go with an empty LDT; the page is
// a descriptor page (never writable) only while it is the LDT.
#include <stdint.h>
#include <xen/errno.h>
#include <xen/sched.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

alignas(4096) uint64_t ldt_page[512];

// A present DPL-3 writable data segment with a byte-granular limit.
constexpr uint64_t data_with_limit(uint32_t limit) {
    return (limit & 0xffff) | (uint64_t{(limit >> 16) & 0xf} << 48) | (0xf3ull << 40) | (0x4ull << 52);
}
constexpr uint16_t kSelector = (1 << 3) | 4 | 3; // LDT entry 1, RPL 3

long set_ldt(uint64_t base, unsigned entries) {
    mmuext_op op{};
    op.cmd = MMUEXT_SET_LDT;
    op.arg1.linear_addr = base;
    op.arg2.nr_ents = entries;
    unsigned done = 0;
    return hypercall(__HYPERVISOR_mmuext_op, arg(&op), 1, arg(&done), DOMID_SELF);
}

// The limit the CPU reads for `sel` (lsl), or -1 if it finds no usable
// descriptor there.
int64_t segment_limit(uint16_t sel) {
    uint64_t limit = 0;
    uint8_t ok = 0;
    asm volatile("lsl %2, %0\n\tsetz %1" : "=r"(limit), "=q"(ok) : "r"(uint64_t{sel}) : "cc");
    return ok ? static_cast<int64_t>(limit) : -1;
}

} // namespace

void run_ldt_checks(Checks& c, const Boot& b) {
    ldt_page[1] = data_with_limit(0x12345);
    const uint64_t va = reinterpret_cast<uint64_t>(ldt_page);
    const uint64_t mfn = own_mfn(b, ldt_page);
    c.expect_eq("ldt_unaligned_base_einval", set_ldt(va + 8, 2), -XEN_EINVAL);
    c.expect_eq("ldt_too_many_entries_einval", set_ldt(va, 8193), -XEN_EINVAL);
    c.expect_eq("ldt_hypervisor_base_einval", set_ldt(0xffff800000000000ull, 2), -XEN_EINVAL);
    long rc = update_va_mapping(va, (mfn << 12) | PTE_P | PTE_A, UVMF_INVLPG | UVMF_LOCAL);
    c.expect_eq("ldt_set", rc == 0 ? set_ldt(va, 2) : rc, 0);
    c.expect_eq("ldt_selector_seen_by_the_cpu", segment_limit(kSelector), 0x12345);
    uint16_t fs = 0;
    asm volatile("mov %1, %%fs\n\tmov %%fs, %0\n\tmov %2, %%fs" : "=r"(fs) : "r"(kSelector), "r"(0) : "memory");
    c.expect("ldt_selector_loads", fs == kSelector, "fs 0x%x", fs);
    c.expect_eq("ldt_entry_beyond_its_size_unusable", segment_limit((2 << 3) | 4 | 3), -1);
    for (unsigned i = 0; i < 50; i++) (void)sched_op(SCHEDOP_yield, nullptr);
    c.expect_eq("ldt_kept_over_switches", segment_limit(kSelector), 0x12345);
    rc = hypercall(__HYPERVISOR_update_descriptor, (mfn << 12) + 8, data_with_limit(0x54321));
    c.expect_eq("ldt_update_descriptor", rc, 0);
    c.expect_eq("ldt_update_descriptor_seen", segment_limit(kSelector), 0x54321);
    c.expect_eq("ldt_page_writable_refused_while_loaded",
                update_va_mapping(va, (mfn << 12) | PTE_P | PTE_RW | PTE_A, UVMF_INVLPG | UVMF_LOCAL), -XEN_EBUSY);
    c.expect_eq("ldt_unset", set_ldt(0, 0), 0);
    c.expect_eq("ldt_selector_gone", segment_limit(kSelector), -1);
    c.expect_eq("ldt_page_writable_again",
                update_va_mapping(va, (mfn << 12) | PTE_P | PTE_RW | PTE_A | PTE_D, UVMF_INVLPG | UVMF_LOCAL), 0);
}

} // namespace pv
