// vm_assist and the debug registers, as a PV kernel uses them at boot:
// Linux enables pae_extended_cr3 (and, for its steal-time code, the
// runstate update flag), and clears DR0-DR3, DR6 and DR7, reading DR6 back
// in its #DB handler. Unknown commands and types are refused.
#include <stdint.h>
#include <xen/errno.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

long vm_assist(unsigned cmd, unsigned type) { return hypercall(__HYPERVISOR_vm_assist, cmd, type); }
long set_debugreg(unsigned reg, uint64_t v) { return hypercall(__HYPERVISOR_set_debugreg, reg, v); }
long get_debugreg(unsigned reg) { return hypercall(__HYPERVISOR_get_debugreg, reg); }

} // namespace

void run_assist_checks(Checks& c) {
    c.expect_eq("vm_assist_pae_extended_cr3", vm_assist(VMASST_CMD_enable, VMASST_TYPE_pae_extended_cr3), 0);
    c.expect_eq("vm_assist_runstate_update_flag", vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag), 0);
    c.expect_eq("vm_assist_disable", vm_assist(VMASST_CMD_disable, VMASST_TYPE_runstate_update_flag), 0);
    c.info("vm_assist", "type 31: %ld, type 64: %ld, cmd 7: %ld, writable_pagetables: %ld, 4gb_segments: %ld",
           vm_assist(VMASST_CMD_enable, 31), vm_assist(VMASST_CMD_enable, 64), vm_assist(7, VMASST_TYPE_pae_extended_cr3),
           vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables),
           vm_assist(VMASST_CMD_enable, VMASST_TYPE_4gb_segments));
    c.expect_eq("vm_assist_unknown_type_einval", vm_assist(VMASST_CMD_enable, 31), -XEN_EINVAL);
    c.expect_eq("vm_assist_type_64_einval", vm_assist(VMASST_CMD_enable, 64), -XEN_EINVAL);
    c.expect_eq("vm_assist_writable_pagetables_offered", vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables), 0);
    (void)vm_assist(VMASST_CMD_disable, VMASST_TYPE_writable_pagetables);
    c.expect_eq("vm_assist_unknown_cmd_enosys", vm_assist(7, VMASST_TYPE_pae_extended_cr3), -XEN_ENOSYS);

    // Linux's clear_all_debug_regs, then the values read back.
    long rc = 0;
    static const unsigned kCleared[] = {0, 1, 2, 3, 6, 7};
    for (unsigned r : kCleared) rc |= set_debugreg(r, 0);
    c.expect_eq("set_debugreg_clear_returns_0", rc, 0);
    c.info("debugreg", "dr0 0x%lx dr6 0x%lx dr7 0x%lx; dr4 %ld dr5 %ld dr8 %ld; set dr0 to the hypervisor %ld",
           get_debugreg(0), get_debugreg(6), get_debugreg(7), get_debugreg(4), get_debugreg(5), get_debugreg(8),
           set_debugreg(0, 0xffff830000000000ull));
    c.expect_eq("get_debugreg_dr6_fixed_bits", get_debugreg(6), 0xffff0ff0l);
    c.expect_eq("get_debugreg_dr7_fixed_bit", get_debugreg(7), 0x400);
    c.expect("debugreg_4_5_are_6_7", get_debugreg(4) == get_debugreg(6) && get_debugreg(5) == get_debugreg(7),
             "dr4 0x%lx dr5 0x%lx", get_debugreg(4), get_debugreg(5));
    c.expect_eq("set_debugreg_address", set_debugreg(1, 0xffffffff80100000ull), 0);
    c.expect_eq("get_debugreg_address", get_debugreg(1), static_cast<long>(0xffffffff80100000ull));
    c.expect_eq("set_debugreg_no_such_register_enodev", set_debugreg(8, 0), -XEN_ENODEV);
    c.expect_eq("get_debugreg_no_such_register_enodev", get_debugreg(8), -XEN_ENODEV);
    c.expect_eq("set_debugreg_hypervisor_address_eperm", set_debugreg(0, 0xffff830000000000ull), -XEN_EPERM);
    (void)set_debugreg(1, 0);
}

} // namespace pv
