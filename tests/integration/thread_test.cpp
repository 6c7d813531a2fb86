// Threads, timers, wait_any and the two-process example (issue 4) end to
// end: tests/configs/threads.dts, lastexit.dts, two_process.dts with
// tests/domains/thread_test and hypercalls/examples/two_process.
#include <boost/test/unit_test.hpp>

#include <regex>
#include <string>

#include "domain_boot.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(native_threads)

BOOST_AUTO_TEST_CASE(thread_timer_and_wait_calls_succeed_and_refuse) {
    BootResult r = boot_config("threads", 2, 240);
    require_clean_end(r);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(threads\) threads: [1-9]\d* checks, 0 failed)")));
    BOOST_TEST(!std::regex_search(r.console, std::regex(R"(\(threads\) check .*FAIL)")));
    // 400 threads created, run, joined and closed: nothing leaks (the
    // domain's frames all come back and its thread slots are reusable).
    BOOST_TEST(r.contains("(threads) churn: 100 rounds, 0 failures"));
    BOOST_TEST(ended(r, "threads").status == 0);
    BOOST_TEST(!r.contains("threads left after teardown"));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(witness\) errors: [1-9]\d* checks, 0 failed)")));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_CASE(the_last_thread_to_exit_ends_the_domain_with_its_status) {
    BootResult r = boot_config("lastexit", 2, 60);
    require_clean_end(r);
    BOOST_TEST(r.contains("(lastexit) lastexit: main leaves"));
    BOOST_TEST(r.contains("'lastexit' its last thread exited (status 5)"));
    BOOST_TEST(!r.contains("thread-test: done"));
    check_reclaimed(r, 1);
}

BOOST_AUTO_TEST_CASE(two_processes_in_one_domain_keep_their_own_memory) {
    BootResult r = boot_config("two_process", 2, 60);
    require_clean_end(r);
    BOOST_TEST(r.contains("(twoproc) two-process: child sees value 1"));
    BOOST_TEST(r.contains("(twoproc) two-process: child set value 100"));
    BOOST_TEST(r.contains("(twoproc) two-process: child exited with 105, parent still sees value 2"));
    BOOST_TEST(ended(r, "twoproc").status == 0);
    check_reclaimed(r, 1);
}

BOOST_AUTO_TEST_SUITE_END()
