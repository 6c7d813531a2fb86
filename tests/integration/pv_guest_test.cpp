// PV guests running on Virtue: our PV test kernel (tests/pv/) boots as a
// PV domU from the device tree, runs its checks through the Xen ABI and
// shuts itself down; the native witness beside it is untouched and every
// frame comes back.
#include "domain_boot.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(pv_guests)

BOOST_AUTO_TEST_CASE(pv_test_kernel_runs_and_shuts_down) {
    BootResult r = boot_config("pv_test", 1, 120);
    require_clean_end(r);
    BOOST_TEST(r.contains("pv-test: running as domU"));
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_SUITE_END()
