// Event channels, grants, rings and synchronous IPC end to end:
// tests/configs/evtchn*.dts, xfer_*.dts and ipc_*.dts with
// tests/domains/evtchn_test.
#include <boost/test/unit_test.hpp>

#include <regex>
#include <string>

#include "domain_boot.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(event_channels)

BOOST_AUTO_TEST_CASE(evtchn_calls_succeed_and_refuse) {
    BootResult r = boot_config("evtchn", 2, 120);
    require_clean_end(r);
    BOOST_TEST(checks_passed(r, "evtchn", "evtchn"));
    BOOST_TEST(checks_passed(r, "evtchn", "grants"));
    BOOST_TEST(checks_passed(r, "evtchn", "ipc"));
    BOOST_TEST(r.contains("(evtchn) console_io says hello"));
    BOOST_TEST(checks_passed(r, "evtchn", "xen"));
    BOOST_TEST(checks_passed(r, "evtchn", "xengrants"));
    BOOST_TEST(!std::regex_search(r.console, std::regex(R"(\(evtchn\) check .*FAIL)")));
    BOOST_TEST(ended(r, "evtchn").status == 0);
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

namespace {
// Boots a client/server pair (configs *_pingpong); both end with status 0
// and every frame comes back.
BootResult boot_client_server(const std::string& config, int cpus) {
    BootResult r = boot_config(config, cpus, 240);
    require_clean_end(r);
    BOOST_TEST(ended(r, "server").status == 0);
    BOOST_TEST(ended(r, "client").status == 0);
    check_reclaimed(r, 2);
    return r;
}

void check_pingpong(int cpus) {
    BootResult r = boot_client_server("evtchn_pingpong", cpus);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(client\) ping: 20000 round trips, \d+ cycles each, 0 failures)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(server\) serve: 20000 round trips, \d+ cycles each)")));
}
} // namespace

BOOST_AUTO_TEST_CASE(ping_pong_between_two_domains_on_one_cpu) { check_pingpong(1); }
BOOST_AUTO_TEST_CASE(ping_pong_between_two_domains_on_two_cpus) { check_pingpong(2); }

// The victim dies connected: the survivor's port goes back to unbound
// (waiting for the dead domain), its wait wakes, and every frame returns.
BOOST_AUTO_TEST_CASE(a_dying_peer_closes_the_channel) {
    BootResult r = boot_config("evtchn_death", 2, 120);
    require_clean_end(r);
    BOOST_TEST(r.contains("(victim) victim: dies connected"));
    BOOST_TEST(ended(r, "victim").status == 7);
    BOOST_TEST(r.contains("(survivor) survivor: 3 events, then peer gone: state 1 remote 21"));
    BOOST_TEST(ended(r, "survivor").status == 0);
    check_reclaimed(r, 2);
}

namespace {
BootResult check_transfer(const std::string& config, const std::string& mib = "256") {
    BootResult r = boot_config(config, 2, 300);
    require_clean_end(r);
    std::smatch sent, got;
    BOOST_REQUIRE(std::regex_search(r.console, sent,
                                    std::regex(R"(\(source\) source: )" + mib + R"( MiB sent, checksum ([0-9a-f]{16}))")));
    BOOST_REQUIRE(std::regex_search(
        r.console, got, std::regex(R"(\(sink\) sink: )" + mib + R"( MiB received, checksum ([0-9a-f]{16}), \d+ MiB/s)")));
    BOOST_TEST(sent[1] == got[1]);
    BOOST_TEST(ended(r, "source").status == 0);
    BOOST_TEST(ended(r, "sink").status == 0);
    check_reclaimed(r, 2);
    return r;
}
} // namespace

// 256 MiB through a Xen-layout ring; the back end copies each page with
// grant_copy, or reads it through a grant mapping; checksums agree.
BOOST_AUTO_TEST_CASE(ring_moves_256_mib_by_grant_copy) { (void)check_transfer("xfer_copy"); }
BOOST_AUTO_TEST_CASE(ring_moves_256_mib_by_grant_map) { (void)check_transfer("xfer_map"); }

// The same ring through the Xen family: entries the source writes itself,
// GNTTABOP_map_grant_ref for the ring, GNTTABOP_copy for the pages, and
// every grant handle unmapped at the end.
BOOST_AUTO_TEST_CASE(ring_moves_64_mib_by_xen_grant_table_ops) {
    BootResult r = check_transfer("xfer_xen_copy", "64");
    BOOST_TEST(r.contains("(sink) sink: 1 of 1 Xen grant handles unmapped"));
}

namespace {
BootResult check_granter_death(const std::string& config) {
    BootResult r = boot_config(config, 2, 300);
    require_clean_end(r);
    BOOST_TEST(r.contains("(source) source: dies with 3000 pages sent"));
    BOOST_TEST(ended(r, "source").status == 9);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(sink\) sink: source died after \d+ pages, mapped pages still readable 1)")));
    BOOST_TEST(ended(r, "sink").status == 0);
    check_reclaimed(r, 2);
    return r;
}
} // namespace

// Death mid-transfer: the granter dies while its pages are mapped by the
// peer; the peer gets the hang-up, still reads the pages, and once it
// unmaps, every frame of both domains is back.
BOOST_AUTO_TEST_CASE(granter_dies_while_its_pages_are_mapped) { (void)check_granter_death("xfer_death"); }

// The same with the Xen family's grant handles: the mappings outlive the
// granter until GNTTABOP_unmap_grant_ref, then the zombie's memory is back.
BOOST_AUTO_TEST_CASE(granter_dies_while_xen_grant_handles_map_its_pages) {
    BootResult r = check_granter_death("xfer_xen_death");
    BOOST_TEST(r.contains("(sink) sink: 33 of 33 Xen grant handles unmapped"));
}

namespace {
void check_ipc_pingpong(const char* config, int cpus) {
    BootResult r = boot_client_server(config, cpus);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(client\) ipcping: 20000 round trips, \d+ cycles each, 0 failures)")));
    BOOST_TEST(r.contains("(server) ipcserve: 20000 calls"));
    // Only endpoint handles cross domains, whoever receives on an endpoint.
    BOOST_TEST(r.contains("(server) ipcserve: call on a lent endpoint 0, foreign handle refused 1"));
    // The direct hand-off is taken: on one CPU every call and every reply
    // hands the CPU straight to the waiting side.
    std::smatch h;
    BOOST_REQUIRE(std::regex_search(r.console, h, std::regex(R"(all domains have ended \(direct handoffs: (\d+)\))")));
    if (cpus == 1) BOOST_TEST(std::stoul(h[1]) >= 2 * 20000u);
    // The entry's fast path: on one CPU every call of the loop finds the
    // server waiting and is delivered to it directly; the two calls that
    // carry a handle (the lending test) go through the queue.
    std::smatch n;
    BOOST_REQUIRE(std::regex_search(r.console, n, std::regex(R"(ipc calls: (\d+) delivered directly, (\d+) queued)")));
    if (cpus == 1) {
        BOOST_TEST(std::stoul(n[1]) == 20000u);
        BOOST_TEST(std::stoul(n[2]) == 2u);
    } else {
        BOOST_TEST(std::stoul(n[1]) + std::stoul(n[2]) == 20002u);
    }
}
} // namespace

BOOST_AUTO_TEST_CASE(ipc_call_reply_between_two_domains_on_one_cpu) { check_ipc_pingpong("ipc_pingpong", 1); }
BOOST_AUTO_TEST_CASE(ipc_call_reply_between_two_domains_on_two_cpus) { check_ipc_pingpong("ipc_pingpong", 2); }
// The same with the messages in registers (Endpoint::call_in_registers,
// reply_wait_in_registers); the lending test still uses buffers, so a
// register-form server also receives a handle there.
BOOST_AUTO_TEST_CASE(ipc_in_registers_between_two_domains_on_one_cpu) { check_ipc_pingpong("ipc_pingpong_regs", 1); }
BOOST_AUTO_TEST_CASE(ipc_in_registers_between_two_domains_on_two_cpus) { check_ipc_pingpong("ipc_pingpong_regs", 2); }

// Death with a call outstanding, on either side: the other side gets a
// clean error and both domains' frames come back.
BOOST_AUTO_TEST_CASE(ipc_peers_die_mid_call) {
    BootResult r = boot_config("ipc_death", 2, 120);
    require_clean_end(r);
    BOOST_TEST(r.contains("(dyingserver) ipcdie: got a call, dying without a reply"));
    BOOST_TEST(ended(r, "dyingserver").status == 3);
    BOOST_TEST(r.contains("(caller) ipconce: call returned -107")); // ENOTCONN
    BOOST_TEST(ended(r, "caller").status == 0);
    BOOST_TEST(r.contains("(dyingcaller) ipcorphan: calling"));
    BOOST_TEST(!r.contains("call returned (wrong)"));
    BOOST_TEST(ended(r, "dyingcaller").status == 4);
    BOOST_TEST(r.contains("(slowserver) ipcslow: reply returned -3")); // ESRCH
    BOOST_TEST(ended(r, "slowserver").status == 0);
    check_reclaimed(r, 4);
}

// The Xen family's vCPU timers raise VIRQ_TIMER on their own vCPU's port,
// never before the deadline; a periodic timer left running ends with its
// domain. The same domain checks that a second address space cannot name
// frames in GNTTABOP_copy.
BOOST_AUTO_TEST_CASE(xen_vcpu_timers_raise_virq_timer) {
    BootResult r = boot_config("xentimer", 2, 120);
    require_clean_end(r);
    BOOST_TEST(checks_passed(r, "xentimer", "xentimer"));
    // Frame numbers bypass handles: only the first address space names them.
    BOOST_TEST(checks_passed(r, "xentimer", "xensandbox"));
    BOOST_TEST(!std::regex_search(r.console, std::regex(R"(\(xentimer\) check .*FAIL)")));
    BOOST_TEST(ended(r, "xentimer").status == 0);
    check_reclaimed(r, 1);
}

// Continuations: on one CPU, a spinner thread runs while a long Xen-family
// batch is half done (the batch stops between operations when the CPU has
// other work and continues where it stopped), every operation is done
// exactly once, and the hypervisor logs the longest time any call held its
// CPU (make bench reports it).
BOOST_AUTO_TEST_CASE(long_batches_are_preempted_and_continued) {
    BootResult r = boot_config("xenpreempt", 1, 120, 256, "", "hypercall-hold-stats");
    require_clean_end(r);
    BOOST_TEST(checks_passed(r, "xenpreempt", "xenpreempt"));
    BOOST_TEST(!std::regex_search(r.console, std::regex(R"(\(xenpreempt\) check .*FAIL)")));
    BOOST_TEST(ended(r, "xenpreempt").status == 0);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(longest hypercall hold with interrupts off: \d+ cycles, \d+ us)")));
    check_reclaimed(r, 1);
}

// A domain's death raises VIRQ_DOM_EXC in control domains that bound it
// (through the Xen family's event_channel_op), and nowhere else.
BOOST_AUTO_TEST_CASE(domain_death_raises_virq_dom_exc_in_control_domains) {
    BootResult r = boot_config("domexc", 2, 120);
    require_clean_end(r);
    BOOST_TEST(r.contains("(watcher) domexc: bind 0, notified 1"));
    BOOST_TEST(r.contains("(bystander) domexc: bind 0, notified 0"));
    BOOST_TEST(ended(r, "mortal").status == 0);
    check_reclaimed(r, 3);
}

BOOST_AUTO_TEST_SUITE_END()
