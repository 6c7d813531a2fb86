// The PV test kernel (tests/pv/kernel/) on real Xen 4.17 as dom0: every
// check passes and the summary line appears (docs/pv-oracle.md). Real Xen
// is the oracle for the PV ABI (BRIEF decision 10): a check it fails is a
// wrong check. If Xen is not installed, the test fails and says why.
#include <boost/test/unit_test.hpp>

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

BOOST_AUTO_TEST_SUITE_END()
