// Calls on the vCPU's own state: a multicall (each entry's result written
// back, a failing one not stopping the rest), FS and kernel GS bases
// (set_segment_base, then used through %fs and %gs), and fpu_taskswitch
// (#NM on the next SSE instruction, once).
#include <stdint.h>
#include <xen/errno.h>
#include <xen/version.h>
#include <xen/xen.h>
#include <xen/physdev.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

uint64_t g_fs_area[2] = {0x0f5f5f5f5f5f5f5full, 0};
uint64_t g_gs_area[2] = {0x06565656565656500ull, 0};

long set_segment_base(unsigned which, uint64_t base) { return hypercall(__HYPERVISOR_set_segment_base, which, base); }

} // namespace

void run_cpu_checks(Checks& c) {
    // multicall: xen_version, an unknown hypercall, set_segment_base(FS).
    multicall_entry_t mc[3] = {};
    mc[0].op = __HYPERVISOR_xen_version;
    mc[0].args[0] = XENVER_version;
    mc[1].op = 63;
    mc[2].op = __HYPERVISOR_set_segment_base;
    mc[2].args[0] = SEGBASE_FS;
    mc[2].args[1] = 0;
    for (auto& e : mc) e.result = 0x5a5a;
    long rc = hypercall(__HYPERVISOR_multicall, arg(mc), 3);
    const long version = xen_version(XENVER_version, nullptr);
    c.info("multicall", "rc %ld results 0x%lx %ld %ld", rc, mc[0].result, static_cast<long>(mc[1].result),
           static_cast<long>(mc[2].result));
    c.expect_eq("multicall_returns_0", rc, 0);
    c.expect("multicall_results_written",
             static_cast<long>(mc[0].result) == version && static_cast<long>(mc[1].result) == -XEN_ENOSYS &&
                 mc[2].result == 0,
             "results 0x%lx %ld %ld (want 0x%lx %d 0)", mc[0].result, static_cast<long>(mc[1].result),
             static_cast<long>(mc[2].result), version, -XEN_ENOSYS);

    // Segment bases, through the segment registers.
    uint64_t via_fs = 0, via_gs = 0;
    rc = set_segment_base(SEGBASE_FS, reinterpret_cast<uint64_t>(g_fs_area));
    if (rc == 0) asm volatile("mov %%fs:0, %0" : "=r"(via_fs));
    c.expect("segbase_fs_used", rc == 0 && via_fs == g_fs_area[0], "rc %ld, %%fs:0 read 0x%lx", rc, via_fs);
    rc = set_segment_base(SEGBASE_GS_KERNEL, reinterpret_cast<uint64_t>(g_gs_area));
    if (rc == 0) asm volatile("mov %%gs:0, %0" : "=r"(via_gs));
    c.expect("segbase_gs_kernel_used", rc == 0 && via_gs == g_gs_area[0], "rc %ld, %%gs:0 read 0x%lx", rc, via_gs);
    (void)set_segment_base(SEGBASE_FS, 0);
    (void)set_segment_base(SEGBASE_GS_KERNEL, 0);
    c.expect_eq("segbase_noncanonical_einval", set_segment_base(SEGBASE_FS, 0x0000800000000000ull), -XEN_EINVAL);
    c.expect_eq("segbase_unknown_einval", set_segment_base(7, 0), -XEN_EINVAL);
    // A user GS selector that does not load (no GDT now): null instead, and
    // no error, as on Xen.
    c.expect_eq("segbase_gs_user_sel_unloadable_is_null", set_segment_base(SEGBASE_GS_USER_SEL, 0x1003), 0);

    // Privileged instructions a guest kernel runs in ring 3: the ones Linux
    // needs are emulated, an MSR nobody knows is a #GP for the guest.
    uint64_t lo = 0, hi = 0;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080u)); // EFER
    c.expect("rdmsr_efer_long_mode_active", (lo >> 10) & 1, "efer 0x%lx", lo);
    uint64_t cr0 = 0;
    asm volatile("mov %%cr0, %0" : "=r"(cr0));
    c.expect("mov_from_cr0_protected_paging", (cr0 & 0x80000001) == 0x80000001, "cr0 0x%lx", cr0);
    uint64_t gp_at = 0, gp_after = 0;
    expect_trap_at(0);
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %1\n\t"
                 "mov %1, %2\n\t"
                 "mov $0x12345678, %%ecx\n\t"
                 "1: rdmsr\n\t"
                 "2:"
                 : "=&r"(gp_at), "=&r"(gp_after), "=m"(*expect_trap_resume())::"rax", "rcx", "rdx", "memory");
    const TrapSeen gp = last_trap();
    c.expect("rdmsr_unknown_msr_gp", gp.count == 1 && gp.vector == 13 && gp.rip == gp_at,
             "%u deliveries, vector %lu, rip 0x%lx (want 0x%lx)", gp.count, gp.vector, gp.rip, gp_at);

    // physdev_op: the virtual I/O privilege level Linux sets at boot.
    physdev_set_iopl_t iopl{1};
    c.expect_eq("physdev_set_iopl_returns_0", hypercall(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, arg(&iopl)), 0);
    iopl.iopl = 4;
    c.expect_eq("physdev_set_iopl_4_einval", hypercall(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, arg(&iopl)), -XEN_EINVAL);
    c.expect_eq("physdev_unknown_enosys", hypercall(__HYPERVISOR_physdev_op, 999, arg(&iopl)), -XEN_ENOSYS);
    c.expect_eq("physdev_set_iopl_unreadable_efault",
                hypercall(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, 0xffff800000000000ull), -XEN_EFAULT);

    // fpu_taskswitch(1): the next SSE instruction raises #NM, once.
    rc = hypercall(__HYPERVISOR_fpu_taskswitch, 1);
    c.expect_eq("fpu_taskswitch_set_returns_0", rc, 0);
    uint64_t at = 0, after = 0;
    expect_trap_at(0);
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "lea 2f(%%rip), %1\n\t"
                 "1: movq %%xmm0, %%rax\n\t"
                 "2: movq %%xmm1, %%rax"
                 : "=&r"(at), "=&r"(after)::"rax", "memory");
    const TrapSeen nm = last_trap();
    c.info("fpu_taskswitch", "%u deliveries, vector %lu rip 0x%lx (instruction at 0x%lx)", nm.count, nm.vector, nm.rip,
           at);
    c.expect("fpu_taskswitch_nm_once", nm.count == 1 && nm.vector == 7 && nm.rip == at,
             "%u deliveries, vector %lu, rip 0x%lx (want 0x%lx)", nm.count, nm.vector, nm.rip, at);
    c.expect_eq("fpu_taskswitch_clear_returns_0", hypercall(__HYPERVISOR_fpu_taskswitch, 0), 0);
}

} // namespace pv
