// Memory regions, address spaces and TLB shootdown end to end:
// tests/configs/memory.dts and tlb.dts with tests/domains/memory_test.
#include <boost/test/unit_test.hpp>

#include <regex>
#include <string>

#include "domain_boot.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(native_memory)

BOOST_AUTO_TEST_CASE(memory_calls_succeed_refuse_and_keep_the_invariants) {
    BootResult r = boot_config("memory", 2, 240);
    require_clean_end(r);
    BOOST_TEST(checks_passed(r, "memory", "memory"));
    BOOST_TEST(!std::regex_search(r.console, std::regex(R"(\(memory\) check .*FAIL)")));
    // Random memory and thread operations (threads in this and a second
    // address space) against a model, the hypervisor's audit every 64.
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(memory\) mmfuzz: 4000 ops, 0 failures, audit 0, 0 bytes not returned, [1-9]\d* threads)")));
    BOOST_TEST(!r.contains("memory audit:"));
    BOOST_TEST(ended(r, "memory").status == 0);
    // Another domain alongside is untouched.
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

// Long calls stop at safe points when their CPU has other work and continue
// where they stopped: a watcher thread on the same (only) CPU sees each of
// them half done, their results are checked in full, and a worker killed
// while preempted inside memory_create gives every frame back.
BOOST_AUTO_TEST_CASE(long_calls_are_preempted_and_continued) {
    BootResult r = boot_config("longcalls", 1, 240, 512, "", "hypercall-hold-stats");
    require_clean_end(r);
    BOOST_TEST(checks_passed(r, "longcalls", "longcalls"));
    BOOST_TEST(!std::regex_search(r.console, std::regex(R"(\(longcalls\) check .*FAIL)")));
    BOOST_TEST(!r.contains("memory audit:"));
    BOOST_TEST(ended(r, "longcalls").status == 0);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(longest hypercall hold with interrupts off: \d+ cycles, \d+ us)")));
    check_reclaimed(r, 1);
}

// Readers on every CPU keep a translation cached; without a shootdown they
// would go on reading the old page.
BOOST_AUTO_TEST_CASE(tlb_shootdown_keeps_every_cpu_consistent) {
    BootResult r = boot_config("tlb", 4, 240);
    require_clean_end(r);
    BOOST_TEST(r.contains("(tlb) tlb: 200 rounds, 3 readers, 0 stale reads, audit 0"));
    BOOST_TEST(ended(r, "tlb").status == 0);
    check_reclaimed(r, 1);
}

// The negative control: the same run with the remote flushes switched off
// must see stale reads, or the test above could not fail.
BOOST_AUTO_TEST_CASE(tlb_test_fails_without_the_shootdown) {
    BootResult r = boot_config("tlb", 4, 240, 256, "", "tlb-shootdown=off");
    BOOST_REQUIRE(!r.timed_out);
    std::smatch m;
    BOOST_REQUIRE(std::regex_search(r.console, m, std::regex(R"(\(tlb\) tlb: 200 rounds, 3 readers, (\d+) stale reads)")));
    BOOST_TEST(std::stol(m[1]) > 0);
}

BOOST_AUTO_TEST_SUITE_END()
