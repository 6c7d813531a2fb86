// The PV test kernel: runs its checks through the Xen ABI only, prints one
// line per check (checks.hpp), then asks for SCHEDOP_shutdown(poweroff).
// The same ELF boots as dom0 on real Xen (the oracle, docs/pv-oracle.md)
// and as a PV domU on Virtue.
// Xen's headers need stdint.h first and xen.h before the others.
#include <stdint.h>
#include <xen/xen.h>
#include <xen/sched.h>

#include "boot.hpp"
#include "checks.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
EntryState pv_entry_state; // filled by head.S before anything else runs
} // namespace pv

namespace {
// The end of every mode: SCHEDOP_shutdown(poweroff), which does not return.
[[noreturn]] void power_off() {
    sched_shutdown_t shutdown{};
    shutdown.reason = SHUTDOWN_poweroff;
    long rc = pv::sched_op(SCHEDOP_shutdown, &shutdown);
    pv::print("pv-test: SCHEDOP_shutdown returned %ld\n", rc);
    for (;;) (void)pv::sched_op(SCHEDOP_yield, nullptr);
}
} // namespace

extern "C" [[noreturn]] void pv_main(const start_info* si) {
    pv::Boot boot{si, (si->flags & SIF_INITDOMAIN) != 0};
    pv::print("pv-test: running as %s\n", boot.dom0 ? "dom0" : "domU");
    // Modes instead of the checks: "fuzz=N [seed=S]" (fuzz.cpp),
    // "selectors=S [yields=N] [failsafe]", "grant-to=D [table]",
    // "grant-map-from=D",
    // "echo-input" (boot.hpp).
    const char* cmdline = reinterpret_cast<const char*>(si->cmd_line);
    if (const char* f = pv::find_arg(cmdline, "fuzz=")) {
        const char* s = pv::find_arg(cmdline, "seed=");
        pv::run_fuzzer(boot, pv::parse_number(f), s ? pv::parse_number(s) : 1);
        power_off();
    }
    if (const char* sel = pv::find_arg(cmdline, "selectors=")) {
        const char* y = pv::find_arg(cmdline, "yields=");
        pv::run_selector_mode(boot, static_cast<uint16_t>(pv::parse_number(sel)), y ? pv::parse_number(y) : 300,
                              pv::find_arg(cmdline, "failsafe") != nullptr);
        power_off();
    }
    if (const char* to = pv::find_arg(cmdline, "grant-to=")) {
        pv::run_grant_offer(boot, static_cast<domid_t>(pv::parse_number(to)), pv::find_arg(cmdline, "table") != nullptr);
        power_off();
    }
    if (const char* from = pv::find_arg(cmdline, "grant-map-from=")) {
        pv::run_grant_map_from(boot, static_cast<domid_t>(pv::parse_number(from)));
        power_off();
    }
    if (pv::find_arg(cmdline, "echo-input")) {
        pv::echo_console_input(boot);
        power_off();
    }
    pv::Checks c;
    pv::run_entry_checks(c, boot);
    pv::run_basic_checks(c, boot);
    if (pv::shared_info_page()) { // (the trap handler reads cr2 there)
        pv::run_trap_checks(c);
        pv::run_user_checks(c, boot);
        pv::run_gdt_checks(c, boot);
        pv::run_ldt_checks(c, boot);
        pv::run_event_checks(c);
        pv::run_cpu_checks(c);
        pv::run_assist_checks(c);
        pv::run_vcpu_checks(c);
        pv::run_l4_handover_checks(c, boot); // (before vCPU 1 holds the bootstrap L4 as its base)
        pv::run_smp_checks(c, boot);
        pv::run_pt_write_checks(c, boot);
        pv::run_mmu_checks(c, boot);
        pv::run_grant_checks(c, boot);
        pv::run_vcpu_info_checks(c, boot);
    }
    c.summary();
    // "bench" on the command line: the figures of bench.cpp, once the checks
    // have set the stage.
    if (pv::find_arg(cmdline, "bench") && pv::shared_info_page()) pv::run_bench(boot);
    power_off();
}
