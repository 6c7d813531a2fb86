// PV domains from the device tree (xen-compat/pv_boot.cpp): a kernel shaped
// like Debian's cloud kernel with an initrd is read and its memory planned;
// a native ELF, a VIRT_BASE in the hypervisor's range, a kernel that
// requires dom0, one without an entry point, memory too small for the
// kernel and a missing initrd module are each refused with the node named
// and the reason, and the native witness beside them runs to its end. The
// shaped kernel is only notes and a segment of zeros: it is started, faults
// at its first instruction and dies alone, its frames back in the pool.
#include "domain_boot.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(pv_domains)

BOOST_AUTO_TEST_CASE(pv_kernels_are_read_and_broken_ones_refused_by_node) {
    BootResult r = boot_config("pv_boot", 1, 120);
    require_clean_end(r);
    // The good one: read, planned as Xen's builder would, built and started.
    BOOST_TEST(std::regex_search(
        r.console, std::regex(R"(/domains/linux: PV kernel 'linux' accepted: entry 0xffffffff8304e1c0, 32768 pages, )"
                              R"(start_info at 0xffffffff83e00000, 35 page-table frames, initrd 256 KiB)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(d\d+ 'linux': PV guest, 32768 pages, 1 vCPU\(s\), entry 0xffffffff8304e1c0)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(d\d+ 'linux' thread 0: #PF page fault in ring 3 .* at RIP ffffffff8304e1c0)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(d\d+ 'linux' killed by an unhandled fault)")));
    // Our own PV test kernel (the one real Xen runs as dom0) is read too.
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/pvtest: PV kernel 'pvtest' accepted: entry 0x[0-9a-f]+, 4096 pages, )")));
    // Each refusal names its node and why.
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/native-kernel: domain 'native-kernel' not started: PV kernel \(module \d+\): .*Xen)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/bad-base: domain 'bad-base' not started: PV kernel \(module \d+\): note VIRT_BASE: )")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/needs-dom0: domain 'needs-dom0' not started: PV kernel \(module \d+\): .*: dom0 )")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/no-entry: domain 'no-entry' not started: PV kernel \(module \d+\): .*ENTRY)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/too-small: domain 'too-small' not started: PV layout of 16 MiB: )")));
    BOOST_TEST(r.contains("/domains/missing-initrd: domain not started: ramdisk module not found"));
    // The witness ran its checks to the end, untouched.
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    BOOST_TEST(r.contains("3 domain(s) started"));
    check_reclaimed(r, 3);
}

// What is typed on the console reaches the PV guest that has
// `console-input`, through its console ring (it echoes the line back under
// its name); the native domain beside it is not disturbed.
BOOST_AUTO_TEST_CASE(console_input_reaches_the_pv_guest_that_owns_it) {
    // (Bytes typed before the hypervisor set up the UART may be dropped with
    // its FIFO: empty lines first, which the guest skips.)
    BootResult r = boot_config("pv_console_input", 1, 90, 256, std::string(64, '\n') + "typed on the console\n");
    require_clean_end(r);
    BOOST_TEST(r.contains("(pvecho) pv-test: read from the console ring: \"typed on the console\""));
    BOOST_TEST(shut_down(r, "pvecho", "poweroff", 0));
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    check_reclaimed(r, 2);
}

// Two PV guests on one CPU, each with its own selectors in DS, ES, FS and
// GS (from their own GDTs): each finds its own after every switch; the
// second then makes its descriptor not present, and when it is switched in
// again the selectors load as null and its failsafe callback gets the old
// ones (ES 0x3b), as Xen does when it cannot reload them.
BOOST_AUTO_TEST_CASE(data_selectors_are_each_guests_own_and_failsafe_gets_the_bad_ones) {
    BootResult r = boot_config("pv_selectors", 1, 120);
    require_clean_end(r);
    BOOST_TEST(r.contains("(pvsela) pv-test: selectors 0x2b kept over 4000 yields: yes"));
    BOOST_TEST(r.contains("(pvselb) pv-test: selectors 0x3b kept over 300 yields: yes"));
    BOOST_TEST(std::regex_search(
        r.console, std::regex(R"(\(pvselb\) pv-test: failsafe callback: 1 after \d+ yields, frame es 0x3b, es now 0x0 \(rc 0\))")));
    for (const char* d : {"pvsela", "pvselb"})
        BOOST_TEST(shut_down(r, d, "poweroff", 0), d);
    check_reclaimed(r, 2);
}

// A PV guest grants a frame of its RAM (read-only) to a native domain:
// the native domain maps it through GNTTABOP_map_grant_ref, reads what the
// guest wrote there, and unmaps it; the guest sees the mapping come and go
// in its grant entry and ends its grant. Every frame comes back.
BOOST_AUTO_TEST_CASE(a_pv_guest_grants_its_memory_to_a_native_domain) {
    BootResult r = boot_config("pv_grant_offer", 1, 90);
    require_clean_end(r);
    BOOST_TEST(r.contains("(pvgrant) pv-test: frame granted as ref 9 to d6"));
    BOOST_TEST(r.contains("(mapper) xenmapfrom: read 0x9a7e7f0d0e5a17ed"));
    BOOST_TEST(r.contains("(mapper) xenmapfrom: unmapped: 0"));
    BOOST_TEST(std::regex_search(
        r.console, std::regex(R"(\(pvgrant\) pv-test: grant 9 mapped by d6 and unmapped: yes \(after \d+ yields\); access ended: yes)")));
    BOOST_TEST(!r.contains("audit"));
    check_reclaimed(r, 2);
}

// A PV guest maps another PV guest's grant into its own page tables: by
// virtual address and by the machine address of an L1 entry (read-only,
// as granted; a writable map is refused) and for a device. It unmaps one
// mapping and ends with two still in place: its death takes them down, so
// the granter sees its grant unmapped, ends it, and every frame of both
// comes back.
BOOST_AUTO_TEST_CASE(a_pv_guest_maps_another_pv_guests_grant_into_its_page_tables) {
    BootResult r = boot_config("pv_grant_pv_mapper", 1, 90);
    require_clean_end(r);
    BOOST_TEST(r.contains("(pvgrant) pv-test: frame granted as ref 9 to d6"));
    BOOST_TEST(r.contains("(pvmapper) pv-test: mapped d5 ref 9 by address: read 0x9a7e7f0d0e5a17ed"));
    BOOST_TEST(r.contains("(pvmapper) pv-test: mapped by entry: 0, read 0x9a7e7f0d0e5a17ed; for a device: 0"));
    BOOST_TEST(r.contains("(pvmapper) pv-test: writable map refused: -1"));
    BOOST_TEST(r.contains("(pvmapper) pv-test: unmapped by address: 0; leaving 2 mappings to the hypervisor"));
    BOOST_TEST(std::regex_search(
        r.console, std::regex(R"(\(pvgrant\) pv-test: grant 9 mapped by d6 and unmapped: yes \(after \d+ yields\); access ended: yes)")));
    for (const char* d : {"pvgrant", "pvmapper"})
        BOOST_TEST(shut_down(r, d, "poweroff", 0), d);
    check_reclaimed(r, 2);
}

// The same with the guest's own L4 granted writable: the map is refused
// (a page table never gets a writable mapping, not even another domain's),
// and the guest, its tables untouched, ends normally.
BOOST_AUTO_TEST_CASE(a_pv_page_table_granted_writable_cannot_be_mapped) {
    BootResult r = boot_config("pv_grant_table_refused", 1, 90);
    require_clean_end(r);
    BOOST_TEST(r.contains("(pvgrant) pv-test: our L4 (writable) granted as ref 9 to d6"));
    // (GNTST_bad_gntref: the entry names no frame the guest may grant so.)
    BOOST_TEST(r.contains("(mapper) xenmapfrom: map of d5 ref 9 failed: -3"));
    BOOST_TEST(!r.contains("(mapper) xenmapfrom: read"));
    BOOST_TEST(r.contains("(pvgrant) pv-test: grant 9 mapped by d6 and unmapped: no"));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(d5 'pvgrant' shut down \(poweroff\) \(status 0\))")));
    BOOST_TEST(ended(r, "mapper").status == 0);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_SUITE_END()

// The hypercall tracer (boot option pv-trace): every hypercall of the PV
// test kernel is logged with its arguments and result, unknown and failing
// ones included, and the guest runs as it does without it.
BOOST_AUTO_TEST_SUITE(pv_trace)

BOOST_AUTO_TEST_CASE(pv_trace_logs_each_hypercall_with_its_result) {
    BootResult r = boot_config("pv_test", 1, 120, 256, "", "pv-trace");
    require_clean_end(r);
    const std::string d = R"(d\d+ v0: )";
    BOOST_TEST(std::regex_search(r.console, std::regex(d + R"(xen_version#17\(0, 0, 0, 0, 0\) = 262161)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(d + R"(console_io#18\(0, [0-9a-f]+, ffffffff8[0-9a-f]+, )")));
    BOOST_TEST(std::regex_search(r.console, std::regex(d + R"(\?#63\([0-9a-f, ]+\) = -38)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(d + R"(iret#23\()")));
    BOOST_TEST(std::regex_search(r.console, std::regex(d + R"(update_va_mapping#14\([0-9a-f, ]+\) = 0)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(d + R"(sched_op#29\(2, [0-9a-f, ]+\))")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(SUMMARY \d+ checks, 0 failed)")));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_SUITE_END()

// The PV fuzzer: a million random Xen hypercalls (random page-table updates,
// reservation changes and grant maps of its own frames included) from a PV guest kernel, on 2 CPUs beside a native witness that
// checks, prints and spins meanwhile: the hypervisor stays up, the witness
// notices nothing, the fuzzer ends by its own shutdown and every frame
// comes back.
BOOST_AUTO_TEST_SUITE(pv_fuzz)

BOOST_AUTO_TEST_CASE(pv_fuzzer_a_million_calls_and_nobody_else_notices) {
    BootResult r = boot_config("pv_fuzz", 2, 300);
    require_clean_end(r);
    std::smatch m;
    BOOST_REQUIRE(std::regex_search(
        r.console, m,
        std::regex(R"(\(pvfuzz\) pv-fuzz: done (\d+) calls, (\d+) distinct results, (\d+) failures; (\d+) frames given back or populated; (\d+) grant maps)")));
    BOOST_TEST(std::stol(m[1]) >= 1000000);
    BOOST_TEST(std::stol(m[2]) >= 5); // it reached more than the error paths of one call
    BOOST_TEST(m[3].str() == "0");
    BOOST_TEST(std::stol(m[4]) >= 100); // its reservation changed, again and again
    BOOST_TEST(std::stol(m[5]) >= 100); // its grants were mapped (and left mapped at its end)
    BOOST_TEST(shut_down(r, "pvfuzz", "poweroff", 0));
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(r.contains("(witness) line 10 of 10 from witness"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_SUITE_END()
