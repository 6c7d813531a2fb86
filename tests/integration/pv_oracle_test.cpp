// The PV test kernel (tests/pv/kernel/) on real Xen 4.17 as dom0: every
// check passes and the summary line appears (docs/pv-oracle.md). Real Xen
// is the oracle for the PV ABI (where the behaviour is in doubt, Xen decides): a check it fails is a
// wrong check. If Xen is not installed, the test fails and says why. The
// second case runs the same kernel on Virtue and compares the two reports.
#include <boost/test/unit_test.hpp>

#include <future>
#include <string>

#include "domain_boot.hpp"
#include "xen_oracle.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(pv_oracle)

BOOST_AUTO_TEST_CASE(pv_test_kernel_passes_on_real_xen) {
    XenBoot x = boot_on_xen(build_dir() + "/pv/pv-test.elf");
    BOOST_REQUIRE_MESSAGE(x.error.empty(), x.error);
    BOOST_TEST_MESSAGE(x.result.console);
    BOOST_TEST_MESSAGE("Xen boot to dom0's end: " << x.result.stop_text_s << " s");
    BOOST_REQUIRE_MESSAGE(!x.result.timed_out, "QEMU timed out before dom0 ended");
    BOOST_TEST(x.result.contains("Hardware Dom0 halted"), "dom0 did not power off (no \"Hardware Dom0 halted\")");
    BOOST_TEST(x.report.has_summary, "no SUMMARY line");
    BOOST_TEST(!x.report.checks.empty());
    BOOST_TEST(x.report.summary_total == x.report.checks.size());
    BOOST_TEST(x.report.summary_failed == 0u);
    for (auto& f : x.report.failed()) BOOST_ERROR("FAIL " << f);
}

// The same ELF as a PV domU on Virtue (beside a native witness) gives the
// same checks with the same outcomes, in the same order, as on real Xen.
// (Both boot at once.)
BOOST_AUTO_TEST_CASE(pv_test_kernel_gives_the_same_results_on_virtue_as_on_xen) {
    auto on_xen = std::async(std::launch::async, [] { return boot_on_xen(build_dir() + "/pv/pv-test.elf"); });
    BootResult v = boot_config("pv_test", 1, 120);
    XenBoot x = on_xen.get();
    BOOST_REQUIRE_MESSAGE(x.error.empty(), x.error);
    require_clean_end(v);
    const PvReport on_virtue = parse_pv_report(v.console);
    BOOST_TEST(on_virtue.has_summary, "no SUMMARY line from Virtue");
    BOOST_TEST(x.report.has_summary, "no SUMMARY line from Xen");
    BOOST_TEST(!on_virtue.checks.empty());
    BOOST_TEST(on_virtue.summary_total == on_virtue.checks.size());
    for (auto& f : on_virtue.failed()) BOOST_ERROR("FAIL on Virtue: " << f);
    // Name by name, in order: the lists are the same.
    BOOST_TEST(on_virtue.checks.size() == x.report.checks.size());
    for (size_t i = 0; i < on_virtue.checks.size() && i < x.report.checks.size(); i++) {
        BOOST_TEST(on_virtue.checks[i].name == x.report.checks[i].name);
        BOOST_TEST(on_virtue.checks[i].passed == x.report.checks[i].passed, on_virtue.checks[i].name);
    }
    // What it wrote into its console ring came out under its name.
    BOOST_TEST(v.contains("(pvtest) pv-test: hello through the console ring"));
    // Its shutdown ended the domain alone; the witness ran to its end.
    BOOST_TEST(shut_down(v, "pvtest", "poweroff", 0));
    BOOST_TEST(checks_passed(v, "witness", "errors"));
    BOOST_TEST(ended(v, "witness").status == 0);
    check_reclaimed(v, 2);
}

BOOST_AUTO_TEST_SUITE_END()
