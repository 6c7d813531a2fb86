// A second vCPU: down until we bring it up with VCPUOP_initialise (a
// context of its own: our kernel L4, its own stack, kernel mode, flat
// selectors) and VCPUOP_up; it then runs a check there (xen_version) and
// counts, yielding, until told to block for good. Meanwhile we bring it
// down (it stops counting) and up again (it counts on). Both hypervisors
// give this kernel two vCPUs.
#include <stdint.h>
#include <string.h>
#include <xen/errno.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

long vcpu_op(int cmd, unsigned vcpu, void* a) { return hypercall(__HYPERVISOR_vcpu_op, static_cast<uint64_t>(cmd), vcpu, arg(a)); }

vcpu_guest_context_t g_ctx;
alignas(16) unsigned char g_ap_stack[8192];
volatile long g_ap_version = -1;
volatile int g_ap_ran = 0;
volatile uint32_t g_ap_time_version = 0, g_ap_time_mul = 0; // vCPU 1's own vcpu_time_info, read there
volatile int g_ap_count = 1;  // vCPU 1 counts while set, then blocks for good
volatile uint64_t g_ap_ticks; // what it counted

// vCPU 1's count after `yields` yields of ours.
uint64_t ticks_after(int yields) {
    for (int i = 0; i < yields; i++) (void)sched_op(SCHEDOP_yield, nullptr);
    return __atomic_load_n(&g_ap_ticks, __ATOMIC_ACQUIRE);
}

} // namespace

extern "C" [[noreturn]] void pv_ap_main() {
    g_ap_version = xen_version(XENVER_version, nullptr);
    if (volatile shared_info* s = shared_info_page()) {
        g_ap_time_version = s->vcpu_info[1].time.version;
        g_ap_time_mul = s->vcpu_info[1].time.tsc_to_system_mul;
    }
    __atomic_store_n(&g_ap_ran, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&g_ap_count, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&g_ap_ticks, g_ap_ticks + 1, __ATOMIC_RELEASE);
        (void)sched_op(SCHEDOP_yield, nullptr);
    }
    for (;;) (void)sched_op(SCHEDOP_block, nullptr);
}

void run_smp_checks(Checks& c, const Boot& b) {
    c.expect_eq("vcpu_1_down_at_start", vcpu_op(VCPUOP_is_up, 1, nullptr), 0);
    memset(&g_ctx, 0, sizeof g_ctx);
    g_ctx.flags = VGCF_in_kernel;
    g_ctx.user_regs.rip = reinterpret_cast<uint64_t>(pv_ap_main);
    g_ctx.user_regs.rsp = reinterpret_cast<uint64_t>(g_ap_stack + sizeof g_ap_stack) - 8; // (as after a call)
    g_ctx.user_regs.cs = FLAT_KERNEL_CS;
    g_ctx.user_regs.ss = FLAT_KERNEL_SS;
    g_ctx.user_regs.rflags = 0x2;
    g_ctx.kernel_ss = FLAT_KERNEL_SS;
    g_ctx.kernel_sp = g_ctx.user_regs.rsp;
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    g_ctx.ctrlreg[3] = xen_pfn_to_cr3(p2m[(b.si->pt_base - VIRT_BASE) >> 12]);
    c.expect_eq("vcpu_1_initialise_returns_0", vcpu_op(VCPUOP_initialise, 1, &g_ctx), 0);
    c.expect_eq("vcpu_1_initialise_twice_eexist", vcpu_op(VCPUOP_initialise, 1, &g_ctx), -XEN_EEXIST);
    c.expect_eq("vcpu_1_up_returns_0", vcpu_op(VCPUOP_up, 1, nullptr), 0);
    int spins = 0;
    for (; spins < 100000 && !__atomic_load_n(&g_ap_ran, __ATOMIC_ACQUIRE); spins++) (void)sched_op(SCHEDOP_yield, nullptr);
    const long mine = xen_version(XENVER_version, nullptr);
    c.info("vcpu_1", "ran %d after %d yields, xen_version there 0x%lx", g_ap_ran, spins, g_ap_version);
    c.expect("vcpu_1_runs_a_check", g_ap_ran == 1 && g_ap_version == mine, "ran %d, xen_version 0x%lx (here 0x%lx)",
             g_ap_ran, g_ap_version, mine);
    c.expect_eq("vcpu_1_is_up", vcpu_op(VCPUOP_is_up, 1, nullptr), 1);
    // Its own clock was published by the time it ran.
    c.expect("vcpu_1_time_info_valid", g_ap_time_version != 0 && !(g_ap_time_version & 1) && g_ap_time_mul != 0,
             "version %u, tsc_to_system_mul %u", g_ap_time_version, g_ap_time_mul);

    // Down (asynchronous: it stops soon after) and up again.
    const uint64_t t0 = ticks_after(0), t1 = ticks_after(300);
    c.expect("vcpu_1_counts", t1 > t0, "count %lu then %lu", t0, t1);
    c.expect_eq("vcpu_down_returns_0", vcpu_op(VCPUOP_down, 1, nullptr), 0);
    c.expect_eq("vcpu_1_down_is_not_up", vcpu_op(VCPUOP_is_up, 1, nullptr), 0);
    const uint64_t d0 = ticks_after(300), d1 = ticks_after(1000);
    c.expect("vcpu_1_down_stops", d0 == d1, "count %lu then %lu while down", d0, d1);
    c.expect_eq("vcpu_up_again_returns_0", vcpu_op(VCPUOP_up, 1, nullptr), 0);
    c.expect_eq("vcpu_1_up_again_is_up", vcpu_op(VCPUOP_is_up, 1, nullptr), 1);
    const uint64_t u1 = ticks_after(1000);
    c.info("vcpu_down_up", "count %lu, %lu; down %lu, %lu; up %lu", t0, t1, d0, d1, u1);
    c.expect("vcpu_1_counts_again", u1 > d1, "count %lu after up (%lu while down)", u1, d1);
    __atomic_store_n(&g_ap_count, 0, __ATOMIC_RELEASE);
}

} // namespace pv
