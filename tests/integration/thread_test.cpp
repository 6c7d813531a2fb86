// Threads, timers, wait_any and the two-process example end to end:
// tests/configs/threads.dts, lastexit.dts, two_process.dts with
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
    BOOST_TEST(checks_passed(r, "threads", "threads"));
    BOOST_TEST(!std::regex_search(r.console, std::regex(R"(\(threads\) check .*FAIL)")));
    // 400 threads created, run, joined and closed: nothing leaks (the
    // domain's frames all come back and its thread slots are reusable).
    BOOST_TEST(r.contains("(threads) churn: 100 rounds, 0 failures"));
    BOOST_TEST(ended(r, "threads").status == 0);
    BOOST_TEST(!r.contains("threads left after teardown"));
    // Two threads suspending, reading and resuming one spinner, racing:
    // every suspend completes (no lost wake-up) and nothing hangs.
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(storm\) storm: 3000 rounds, [1-9]\d* reads, 0 failures)")));
    BOOST_TEST(ended(r, "storm").status == 0);
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 3);
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

BOOST_AUTO_TEST_SUITE(native_faults)

// A handler thread serves 10,000 demand-zero page faults and an invalid
// opcode; one fault it never answers blocks only its thread; a handler that
// faults itself ends its own domain and nothing else.
BOOST_AUTO_TEST_CASE(faults_go_to_the_domains_own_handler_thread) {
    BootResult r = boot_config("handled_faults", 2, 300);
    require_clean_end(r);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(pager\) faults: 10000 served, 0 non-zero pages, ud2 fixed 1, unanswered thread blocked alone 1, killed 1, handler errors 0, \d+ cycles per fault)")));
    BOOST_TEST(ended(r, "pager").status == 0);
    BOOST_TEST(r.contains("(badhandler) handlerfault: the handler faults now"));
    BOOST_TEST(!r.contains("still alive (wrong)"));
    BOOST_TEST(ended(r, "badhandler").status == -1);
    BOOST_TEST(r.contains("'badhandler' killed by an unhandled fault"));
    // A handler that leaves with a fault queued: nobody can answer it.
    BOOST_TEST(r.contains("(orphan) orphanfault: handler leaves"));
    BOOST_TEST(!r.contains("(orphan) orphanfault: not killed (wrong)"));
    BOOST_TEST(ended(r, "orphan").status == -1);
    BOOST_TEST(r.contains("'orphan' a fault handler left faults unanswered"));
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 4);
}

// The GC write-barrier example: each cycle, the pages the mutator wrote
// are found both by write-protection faults served in the domain and by
// the dirty bits, and the two agree page for page (mutator and handler on
// two CPUs: protect and clear flush the other CPU's TLB).
BOOST_AUTO_TEST_CASE(gc_write_barrier_by_protection_faults_and_dirty_bits) {
    BootResult r = boot_config("gc_barrier", 2, 120);
    require_clean_end(r);
    std::regex cycle(R"(\(gc\) gc-barrier: cycle (\d): (\d+) pages written, (\d+) barrier faults, (\d+) dirty pages, same pages)");
    int cycles = 0;
    for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), cycle); it != std::sregex_iterator(); ++it) {
        const std::smatch& m = *it;
        BOOST_TEST(std::stoi(m[2]) > 0);
        BOOST_TEST(m[2] == m[3]);
        BOOST_TEST(m[2] == m[4]);
        cycles++;
    }
    BOOST_TEST(cycles == 8);
    BOOST_TEST(r.contains("(gc) gc-barrier: 8 of 8 cycles agree, 0 stray faults"));
    BOOST_TEST(ended(r, "gc").status == 0);
    check_reclaimed(r, 1);
}

BOOST_AUTO_TEST_SUITE_END()
