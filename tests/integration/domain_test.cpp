// Native domains end to end: device-tree configurations from tests/configs/
// booted with the SDK-built domains (tests/domains/, hypercalls/examples/).
// Each case boots its own QEMU; the hypervisor ends the run itself
// (shutdown-when-done + isa-debug-exit) once every domain has gone.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <map>
#include <regex>
#include <string>

#include "domain_boot.hpp"

using namespace virtue::test;

BOOST_AUTO_TEST_SUITE(native_domains)

BOOST_AUTO_TEST_CASE(three_domains_print_interleaved_on_two_cpus) {
    BootResult r = boot_config("three", 2);
    require_clean_end(r);
    for (std::string d : {"alpha", "beta", "gamma"}) {
        for (int i = 1; i <= 20; i++)
            BOOST_TEST(r.contains("(" + d + ") line " + std::to_string(i) + " of 20 from " + d), d << " line " << i);
        BOOST_TEST(ended(r, d).status == 0);
    }
    // Interleaved: every domain printed its first line before any domain
    // printed its last.
    size_t last_first = 0, first_last = std::string::npos;
    for (std::string d : {"alpha", "beta", "gamma"}) {
        last_first = std::max(last_first, line_of(r, "(" + d + ") line 1 of 20"));
        first_last = std::min(first_last, line_of(r, "(" + d + ") line 20 of 20"));
    }
    BOOST_TEST(last_first < first_last);
    check_reclaimed(r, 3);
}

void check_shares(const std::string& config, int smp) {
    BootResult r = boot_config(config, smp, 120);
    require_clean_end(r);
    Ended light = ended(r, "light"), heavy = ended(r, "heavy");
    BOOST_REQUIRE(light.found && heavy.found);
    BOOST_TEST(light.status == 0);
    BOOST_TEST(heavy.status == 0);
    double ratio = heavy.cpu_ms / light.cpu_ms;
    BOOST_TEST_MESSAGE("cpu light " << light.cpu_ms << " ms, heavy " << heavy.cpu_ms << " ms, ratio " << ratio);
    std::printf("shares %s: light %.1f ms, heavy %.1f ms, ratio %.3f (want 2 +- 10%%)\n", config.c_str(),
                light.cpu_ms, heavy.cpu_ms, ratio);
    BOOST_TEST(ratio >= 1.8);
    BOOST_TEST(ratio <= 2.2);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_CASE(weights_1_to_2_give_cpu_shares_1_to_2) { check_shares("shares", 1); }
BOOST_AUTO_TEST_CASE(weights_1_to_2_on_two_cpus_with_two_threads_each) { check_shares("shares_smp", 2); }

BOOST_AUTO_TEST_CASE(faulting_domains_die_alone_and_their_memory_returns) {
    BootResult r = boot_config("faults", 2);
    require_clean_end(r);
    const std::map<std::string, std::string> faults = {
        {"pf", "#PF page fault"}, {"gp", "#GP general protection"}, {"ud", "#UD invalid opcode"},
        {"de", "#DE divide error"}, {"kernel", "#PF page fault"}, {"m2p", "#PF page fault"}};
    for (auto& [name, what] : faults) {
        BOOST_TEST(r.contains("(" + name + ") fault: about to"), name);
        BOOST_TEST(r.contains("'" + name + "' thread 0: " + what + " in ring 3"), name);
        BOOST_TEST(std::regex_search(r.console, std::regex("d\\d+ '" + name + "' thread 0: unhandled exception \\d+ in ring 3: domain killed")), name);
        BOOST_TEST(ended(r, name).status == -1, name);
    }
    for (const char* what : {"#PF page fault", "#GP general protection", "#UD invalid opcode", "#DE divide error"})
        BOOST_TEST(r.contains(what), what);
    // A far call through a guest GDT selector (which must read as zero, not
    // as hypervisor data) and a syscall from 32-bit mode (CSTAR) kill only
    // their domain.
    BOOST_TEST(r.contains("'gate' thread 0: #GP general protection in ring 3"));
    BOOST_TEST(ended(r, "gate").status == -1);
    BOOST_TEST(r.contains("'compat': syscall from 32-bit compatibility mode"));
    BOOST_TEST(r.contains("'compat' thread 0: invalid syscall in ring 3: domain killed"));
    BOOST_TEST(ended(r, "compat").status == -1);
    BOOST_TEST(r.contains("killed by an unhandled fault"));
    // The witness kept running after the others died, to its clean exit.
    BOOST_TEST(r.contains("(witness) spin: done"));
    BOOST_TEST(r.contains("(witness) line 10 of 10 from witness"));
    BOOST_TEST(r.contains("(witness) sleep: ok"));
    BOOST_TEST(ended(r, "witness").status == 0);
    // The M2P exists (for PV guests) but a native domain cannot read it.
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(M2P: \d+ entries \(\d+ KiB\) at 0xffff800000000000)")));
    check_reclaimed(r, 9);
}

BOOST_AUTO_TEST_CASE(bad_domains_are_refused_with_their_path_and_others_boot) {
    BootResult r = boot_config("refusals", 1);
    require_clean_end(r);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/huge: domain not started: .*memory)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/orphan: domain not started: .*module)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/twin@2: domain not started: .*name)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/odd: domain not started: .*kind)")));
    BOOST_TEST(r.contains("/domains/badimage: domain 'badimage' not started: not an ELF file (bad magic)"));
    BOOST_TEST(r.contains("(survivor) line 3 of 3 from survivor"));
    BOOST_TEST(r.contains("(twin) line 1 of 1 from twin")); // the first twin is fine
    BOOST_TEST(ended(r, "survivor").status == 0);
    BOOST_TEST(!r.contains("(huge)"));
    BOOST_TEST(!r.contains("(orphan)"));
    BOOST_TEST(!r.contains("(odd)"));
    BOOST_TEST(!r.contains("(badimage)"));
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_CASE(malformed_configuration_is_reported_and_nothing_starts) {
    // An ELF image where the device tree should be: the hypervisor says so
    // and ends cleanly (nothing to run).
    BootSpec spec;
    spec.cmdline = "console=com1 com1=115200,8n1 loglvl=info debug-exit=0xf4 shutdown-when-done";
    spec.timeout_s = 60;
    std::string b = build_dir();
    spec.modules = {{b + "/domains/hello.elf", "config"}, {b + "/domains/hello.elf", "hello"}};
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE(r.console);
    require_clean_end(r);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(boot configuration \(module 0\) unusable: .*no domains started)")));
    BOOST_TEST(!r.contains("(hello)"));
}

BOOST_AUTO_TEST_CASE(native_calls_succeed_and_refuse_bad_arguments) {
    BootResult r = boot_config("calls", 2);
    require_clean_end(r);
    for (std::string d : {"checker", "controller"}) {
        BOOST_TEST(checks_passed(r, d, "errors"), d);
        BOOST_TEST(!std::regex_search(r.console, std::regex("\\(" + d + "\\) check .*FAIL")), d);
        BOOST_TEST(std::regex_search(r.console, std::regex("\\(" + d + "\\) info: id=\\d+ name=" + d + " memory=4194304 ")), d);
        BOOST_TEST(ended(r, d).status == 0, d);
    }
    BOOST_TEST(r.contains("(checker) sleep: ok"));
    for (std::string d : {"checker", "controller"})
        BOOST_TEST(checks_passed(r, d, "handles"), d);
    // The control domain is domain 0 and sees the boot modules; the other
    // domain sees none.
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(controller\) info: id=0 .*privileges=control)")));
    BOOST_TEST(r.contains("(controller) bootinfo: module test "));
    BOOST_TEST(r.contains("(checker) bootinfo: bootargs='info bootinfo errors handles sleep' modules=0"));
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_CASE(control_domain_reads_the_console) {
    // Bytes typed before the hypervisor set up the UART may be dropped with
    // its FIFO; the marker at the end must arrive.
    BootResult r = boot_config("console", 2, 90, 256, std::string(64, '.') + "typed on the console!");
    require_clean_end(r);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(\(reader\) read: \d+ bytes: '[.]*typed on the console!')")));
    BOOST_TEST(r.contains("(other) check console_read_not_control: ok"));
    BOOST_TEST(ended(r, "reader").status == 0);
}

BOOST_AUTO_TEST_CASE(control_domain_pauses_unpauses_and_destroys_another) {
    BootResult r = boot_config("control", 2);
    require_clean_end(r);
    for (std::string d : {"controller", "victim"})
        BOOST_TEST(checks_passed(r, d, "errors"), d);
    BOOST_TEST(r.contains("(controller) pause: d5 -> 0"));
    BOOST_TEST(r.contains("(controller) unpause: d5 -> 0"));
    BOOST_TEST(r.contains("(controller) destroy: d5 -> 0"));
    BOOST_TEST(r.contains("(controller) destroy: d77 -> -3")); // -ESRCH
    BOOST_TEST(r.contains("d5 'victim' paused by d0"));
    BOOST_TEST(r.contains("d5 'victim' unpaused by d0"));
    // While paused (0.5 s) the victim prints at most the line it was in the
    // middle of; before and after, a line every 20 ms.
    size_t paused = line_of(r, "(controller) pause: d5 -> 0"), unpaused = line_of(r, "(controller) unpause: d5 -> 0");
    BOOST_REQUIRE(paused != std::string::npos && unpaused != std::string::npos && paused < unpaused);
    auto lines = r.lines();
    int during = 0, after = 0;
    for (size_t i = 0; i < lines.size(); i++)
        if (lines[i].find("(victim) line ") != std::string::npos) (i > paused && i < unpaused ? during : after)++;
    BOOST_TEST(during <= 1);
    BOOST_TEST(after >= 5);
    BOOST_TEST(ended(r, "victim").status == -9);
    BOOST_TEST(r.contains("'victim' destroyed by the control domain"));
    BOOST_TEST(!r.contains("(victim) line 1000 of 1000"));
    BOOST_TEST(ended(r, "controller").status == 0);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_CASE(hypercall_fuzzer_a_million_calls_and_nobody_else_notices) {
    BootResult r = boot_config("fuzz", 2, 300);
    require_clean_end(r);
    std::smatch m;
    BOOST_REQUIRE(std::regex_search(r.console, m, std::regex(R"(\(fuzzer\) fuzzer: done (\d+) calls, (\d+) failures)")));
    BOOST_TEST(std::stol(m[1]) >= 1000000);
    BOOST_TEST(m[2].str() == "0");
    BOOST_TEST(ended(r, "fuzzer").status == 0);
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(r.contains("(witness) line 10 of 10 from witness"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

BOOST_AUTO_TEST_CASE(default_configuration_boots_hello_and_spinners) {
    // The configuration `make run` boots, shortened: hello finishes, the
    // spinners are stopped after their first reports.
    BootSpec spec;
    spec.cmdline = "console=com1 com1=115200,8n1 loglvl=info";
    spec.smp = 2;
    spec.timeout_s = 60;
    spec.stop_after = "(spinner2) spinner spinner2: chunks=";
    spec.stop_grace_s = 0.5;
    std::string b = build_dir();
    spec.modules = {{b + "/configs/default.dtb", "config"},
                    {b + "/domains/hello.elf", "hello"},
                    {b + "/domains/spinner.elf", "spinner"},
                    {b + "/domains/spinner.elf", "spinner2"}};
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE(r.console);
    BOOST_TEST(r.stopped);
    BOOST_TEST(!r.contains("PANIC"));
    BOOST_TEST(r.contains("(hello) hello from hello (domain 0)"));
    BOOST_TEST(r.contains("(hello) module 1: hello"));
    BOOST_TEST(r.contains("(hello) hello: done"));
    BOOST_TEST(r.contains("(spinner) spinner spinner: chunks="));
}

BOOST_AUTO_TEST_SUITE_END()
