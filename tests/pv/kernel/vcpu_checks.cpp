// vcpu_op for our own vCPU: it is up, its runstate says running with time
// spent there, and a runstate area we register is filled in at once (and
// kept up to date as we are switched in and out).
#include <stdint.h>
#include <xen/errno.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

long vcpu_op(int cmd, unsigned vcpu, void* a) { return hypercall(__HYPERVISOR_vcpu_op, static_cast<uint64_t>(cmd), vcpu, arg(a)); }

volatile vcpu_runstate_info g_area;
alignas(4096) unsigned char g_vcpu_info_page[4096];

} // namespace

void run_vcpu_checks(Checks& c) {
    c.expect_eq("vcpu_is_up_0", vcpu_op(VCPUOP_is_up, 0, nullptr), 1);
    vcpu_runstate_info r{};
    long rc = vcpu_op(VCPUOP_get_runstate_info, 0, &r);
    c.info("runstate", "rc %ld state %d entry %lu running %lu runnable %lu blocked %lu", rc, r.state, r.state_entry_time,
           r.time[RUNSTATE_running], r.time[RUNSTATE_runnable], r.time[RUNSTATE_blocked]);
    c.expect("runstate_running", rc == 0 && r.state == RUNSTATE_running && r.time[RUNSTATE_running] > 0,
             "rc %ld, state %d, running time %lu", rc, r.state, r.time[RUNSTATE_running]);
    vcpu_register_runstate_memory_area_t area{};
    area.addr.v = const_cast<vcpu_runstate_info*>(&g_area);
    rc = vcpu_op(VCPUOP_register_runstate_memory_area, 0, &area);
    c.expect("runstate_area_filled", rc == 0 && g_area.state == RUNSTATE_running && g_area.state_entry_time != 0,
             "rc %ld, state %d, entry time %lu", rc, g_area.state, static_cast<uint64_t>(g_area.state_entry_time));
    for (int i = 0; i < 3; i++) (void)sched_op(SCHEDOP_yield, nullptr);
    c.expect("runstate_area_after_yield", g_area.state == RUNSTATE_running && g_area.time[RUNSTATE_running] > 0,
             "state %d, running time %lu", g_area.state, static_cast<uint64_t>(g_area.time[RUNSTATE_running]));
    area.addr.p = 0;
    c.expect_eq("runstate_area_unregistered", vcpu_op(VCPUOP_register_runstate_memory_area, 0, &area), 0);
    c.expect_eq("vcpu_op_no_such_vcpu_enoent", vcpu_op(VCPUOP_get_runstate_info, 4096, &r), -XEN_ENOENT);
}

// Last of all (the event checks use vcpu_info where it was): vcpu_info
// moved into a page of ours. It arrives with our mask and time, and with
// every selector bit and the upcall flag set so that nothing pending is
// missed; a second registration is refused.
void run_vcpu_info_checks(Checks& c, const Boot& b) {
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    vcpu_register_vcpu_info_t info{};
    info.mfn = p2m[(reinterpret_cast<uint64_t>(g_vcpu_info_page) - VIRT_BASE) >> 12];
    info.offset = 64;
    auto* moved = reinterpret_cast<volatile vcpu_info*>(g_vcpu_info_page + 64);
    const long rc = vcpu_op(VCPUOP_register_vcpu_info, 0, &info);
    c.info("vcpu_info_moved", "rc %ld mask %u upcall %u sel 0x%lx time version %u mul %u", rc,
           moved->evtchn_upcall_mask, moved->evtchn_upcall_pending, static_cast<uint64_t>(moved->evtchn_pending_sel),
           moved->time.version, moved->time.tsc_to_system_mul);
    c.expect("register_vcpu_info_moves_it",
             rc == 0 && moved->evtchn_upcall_mask == 1 && moved->evtchn_upcall_pending == 1 &&
                 moved->evtchn_pending_sel == ~0ul && moved->time.tsc_to_system_mul != 0,
             "rc %ld, mask %u, upcall %u, selector 0x%lx, mul %u", rc, moved->evtchn_upcall_mask,
             moved->evtchn_upcall_pending, static_cast<uint64_t>(moved->evtchn_pending_sel), moved->time.tsc_to_system_mul);
    if (rc == 0) g_moved_vcpu_info = moved;
    c.expect_eq("register_vcpu_info_twice_einval", vcpu_op(VCPUOP_register_vcpu_info, 0, &info), -XEN_EINVAL);
}

} // namespace pv
