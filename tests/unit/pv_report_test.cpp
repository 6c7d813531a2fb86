// Unit tests for the reader of the PV test kernel's report
// (tests/integration/pv_report.hpp): Xen's console (dom0's lines bare, Xen's
// own under "(XEN)") and Virtue's (every domain line under "(name) ").
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "integration/pv_report.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(pv_report_tests)

BOOST_AUTO_TEST_CASE(reads_xen_dom0_console) {
    PvReport r = parse_pv_report("(XEN) Freed 656kB init memory\r\n"
                                 "pv-test: running as dom0\r\n"
                                 "INFO xen_version: 4.17\r\n"
                                 "PASS xen_version_major_4\r\n"
                                 "FAIL console_io_bad_cmd_enosys: got -22, expected -38\r\n"
                                 "(XEN) PASS not_a_guest_line\r\n"
                                 "SUMMARY 2 checks, 1 failed\r\n"
                                 "(XEN) Hardware Dom0 halted: halting machine\r\n");
    BOOST_REQUIRE(r.checks.size() == 2u);
    BOOST_TEST(r.checks[0].name == "xen_version_major_4");
    BOOST_TEST(r.checks[0].passed);
    BOOST_TEST(r.checks[1].name == "console_io_bad_cmd_enosys");
    BOOST_TEST(!r.checks[1].passed);
    BOOST_TEST(r.checks[1].detail == "got -22, expected -38");
    BOOST_TEST(r.info == std::vector<std::string>{"xen_version: 4.17"});
    BOOST_TEST(r.has_summary);
    BOOST_TEST(r.summary_total == 2u);
    BOOST_TEST(r.summary_failed == 1u);
    BOOST_TEST(r.passed() == std::vector<std::string>{"xen_version_major_4"});
    BOOST_TEST(r.failed() == std::vector<std::string>{"console_io_bad_cmd_enosys: got -22, expected -38"});
    BOOST_TEST(r.lines.size() == 4u);
}

BOOST_AUTO_TEST_CASE(strips_a_domain_prefix) {
    PvReport r = parse_pv_report("(pv-test) PASS start_info_magic\n"
                                 "(d1) FAIL entry_selectors_flat: cs 0xe033: detail: with colons\n"
                                 "(pv-test) SUMMARY 2 checks, 1 failed\n");
    BOOST_REQUIRE(r.checks.size() == 2u);
    BOOST_TEST(r.checks[0].name == "start_info_magic");
    BOOST_TEST(r.checks[1].detail == "cs 0xe033: detail: with colons");
    BOOST_TEST(r.has_summary);
}

BOOST_AUTO_TEST_CASE(ignores_what_is_not_a_report_line) {
    PvReport r = parse_pv_report("PASS Not-A-Name\n"
                                 "PASSED something\n"
                                 "  PASS indented\n"
                                 "SUMMARY lots of checks\n"
                                 "FAIL\n");
    BOOST_TEST(r.checks.empty());
    BOOST_TEST(!r.has_summary);
    BOOST_TEST(r.lines.empty());
}

BOOST_AUTO_TEST_SUITE_END()
