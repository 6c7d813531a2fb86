// Boots the hypervisor in QEMU and checks what it does: CPUs, memory,
// timers, the console, fault handling, panic and shutdown policy.
#define BOOST_TEST_MODULE virtue_integration_tests
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <set>
#include <vector>

#include "qemu_runner.hpp"

using namespace virtue::test;

namespace {

const std::string BASE = "console=com1 com1=115200,8n1 loglvl=info debug-exit=0xf4";

BootResult boot_with(const std::string& extra, int smp = 1, int mem = 256) {
    BootSpec spec;
    spec.cmdline = BASE + " " + extra;
    spec.smp = smp;
    spec.mem_mib = mem;
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE("---- console ----\n" << r.console);
    return r;
}

void require_clean_pass(const BootResult& r) {
    BOOST_TEST(!r.timed_out);
    BOOST_TEST(r.exited);
    BOOST_TEST(r.exit_status == EXIT_SUCCESS_STATUS);
    BOOST_TEST(!r.contains("PANIC"));
    BOOST_TEST(!r.contains("WARN"));
    BOOST_TEST(!r.contains("ERR "));
}

void check_cpus_and_ticks(int smp) {
    BootResult r = boot_with("selftest=ticks", smp);
    require_clean_pass(r);
    BOOST_TEST(r.contains("all " + std::to_string(smp) + " CPUs online"));
    BOOST_TEST(r.contains("ACPI: " + std::to_string(smp) + " CPUs"));
    // One tick report per CPU, each with a non-zero count, each "ok".
    std::regex tick_re(R"(selftest ticks: CPU (\d+): (\d+) ticks in \d+ ms \(expected ~\d+\) (ok|BAD))");
    std::set<int> cpus;
    for (auto& line : r.lines()) {
        std::smatch m;
        if (std::regex_search(line, m, tick_re)) {
            cpus.insert(std::stoi(m[1]));
            BOOST_TEST(std::stoul(m[2]) > 0u);
            BOOST_TEST(m[3] == "ok");
        }
    }
    BOOST_TEST(cpus.size() == static_cast<size_t>(smp));
    BOOST_TEST(r.contains("selftest ticks: PASS"));
    // Boot timing is measured and printed.
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(boot: first log line \d+ us after entry)")));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(CPUs online \d+\.\d{3} ms after entry)")));
}

// KiB of RAM the hypervisor says the memory map holds.
long reported_ram_kib(const BootResult& r) {
    std::smatch m;
    std::regex re(R"(memory: (\d+) KiB RAM in the memory map, (\d+) KiB usable)");
    BOOST_REQUIRE_MESSAGE(std::regex_search(r.console, m, re), "no 'memory: ... KiB RAM in the memory map' line");
    return std::stol(m[1]);
}

void check_ram(int mem_mib) {
    BootResult r = boot_with("selftest=ticks", 1, mem_mib);
    require_clean_pass(r);
    long kib = reported_ram_kib(r);
    // QEMU's e820 keeps a few hundred KiB below 1 MiB and near the top.
    BOOST_TEST(kib <= mem_mib * 1024L);
    BOOST_TEST(kib >= mem_mib * 1024L - 1024);
    std::smatch m;
    BOOST_REQUIRE(std::regex_search(r.console, m, std::regex(R"(frames: (\d+) RAM, (\d+) free, (\d+) hypervisor)")));
    long ram_frames = std::stol(m[1]), free_frames = std::stol(m[2]), hv_frames = std::stol(m[3]);
    BOOST_TEST(ram_frames == free_frames + hv_frames); // no domains yet
    BOOST_TEST(free_frames * 4 > mem_mib * 1024L * 8 / 10); // most RAM is free after boot
}

void check_fatal(const std::string& test, const std::string& what, int smp = 1, int cpu = 0) {
    BootResult r = boot_with("selftest=" + test, smp);
    BOOST_TEST(!r.timed_out);
    BOOST_TEST(r.exit_status == EXIT_PANIC_STATUS);
    BOOST_TEST(r.contains("----[ Virtue hypervisor fault on CPU " + std::to_string(cpu) + " ]----"));
    BOOST_TEST(r.contains(what));
    for (const char* reg : {"RAX=", "RBX=", "RSP=", "R15=", "RIP=", "RFLAGS=", "CR0=", "CR2=", "CR3=", "CR4="})
        BOOST_TEST(r.contains(reg), "register dump has " << reg);
    BOOST_TEST(r.contains("Backtrace:"));
    BOOST_TEST(r.contains("**** PANIC on CPU " + std::to_string(cpu) + ": fatal " + what));
}

} // namespace

BOOST_AUTO_TEST_SUITE(hypervisor_boot)

BOOST_AUTO_TEST_CASE(smp1_cpus_online_and_ticking) { check_cpus_and_ticks(1); }
BOOST_AUTO_TEST_CASE(smp2_cpus_online_and_ticking) { check_cpus_and_ticks(2); }
BOOST_AUTO_TEST_CASE(smp4_cpus_online_and_ticking) { check_cpus_and_ticks(4); }

BOOST_AUTO_TEST_CASE(ram_matches_qemu_256m) { check_ram(256); }
BOOST_AUTO_TEST_CASE(ram_matches_qemu_5g_above_4g) { check_ram(5120); }

BOOST_AUTO_TEST_CASE(console_lines_never_interleave) {
    BootResult r = boot_with("selftest=console-stress", 4);
    require_clean_pass(r);
    std::regex whole(R"(^\[ *\d+\.\d{6}\] c(\d) +console-stress cpu=(\d) line=\d\d ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 end$)");
    int intact = 0, torn = 0;
    for (auto& line : r.lines()) {
        if (line.find("console-stress") == std::string::npos && line.find("ABCDEF") == std::string::npos) continue;
        if (line.find("selftest console-stress") != std::string::npos) continue;
        if (line.find("command line:") != std::string::npos) continue;
        std::smatch m;
        if (std::regex_match(line, m, whole) && m[1] == m[2]) intact++;
        else torn++;
    }
    BOOST_TEST(torn == 0);
    BOOST_TEST(intact == 4 * 40);
}

BOOST_AUTO_TEST_CASE(page_fault_dumps_registers_and_panics) {
    check_fatal("fault-pf", "#PF page fault");
    BootResult r = boot_with("selftest=fault-pf");
    BOOST_TEST(r.contains("faulting address (CR2): 00007dead000beef  [not present, write, supervisor]"));
    BOOST_TEST(r.contains("fault_page"), "backtrace names the faulting function");
}
BOOST_AUTO_TEST_CASE(general_protection_fault_panics) { check_fatal("fault-gp", "#GP general protection"); }
BOOST_AUTO_TEST_CASE(invalid_opcode_panics) { check_fatal("fault-ud", "#UD invalid opcode"); }
BOOST_AUTO_TEST_CASE(divide_error_panics) { check_fatal("fault-de", "#DE divide error"); }
BOOST_AUTO_TEST_CASE(stack_overflow_hits_guard_page_and_double_faults) {
    check_fatal("stack-overflow", "#DF double fault");
}
BOOST_AUTO_TEST_CASE(fault_on_second_cpu_names_that_cpu) {
    check_fatal("fault-ap", "#UD invalid opcode", 2, 1);
}

// Two locks taken against their ranks: the debug build's check panics at
// the second one and names both (lib/lock_rank.hpp).
BOOST_AUTO_TEST_CASE(locks_taken_out_of_rank_order_panic) {
    BootResult r = boot_with("selftest=lock-order");
    BOOST_TEST(!r.timed_out);
    BOOST_TEST(r.exit_status == EXIT_PANIC_STATUS);
    BOOST_TEST(std::regex_search(
        r.console, std::regex(R"(\*\*\*\* PANIC on CPU 0: lock order: taking Domain lock 0x[0-9a-f]+ while holding )"
                              R"(Buddy lock 0x[0-9a-f]+ \(CPU 0\) \*\*\*\*)")));
    BOOST_TEST(r.contains("crash_lock_order"), "the backtrace names the test");
    BOOST_TEST(!r.contains("FAIL (survived)"));
}

BOOST_AUTO_TEST_CASE(boot_modules_and_their_command_lines_are_reported) {
    char path[] = "/tmp/virtue-module-XXXXXX";
    int fd = mkstemp(path);
    BOOST_REQUIRE(fd >= 0);
    std::string payload(10000, 'm'); // 10000 bytes: the reported range must say so
    BOOST_REQUIRE(write(fd, payload.data(), payload.size()) == static_cast<ssize_t>(payload.size()));
    close(fd);
    BootSpec spec;
    spec.cmdline = BASE + " selftest=ticks";
    spec.modules = {{path, "first arg=1"}, {path, "second"}};
    BootResult r = boot(spec);
    unlink(path);
    BOOST_TEST_MESSAGE(r.console);
    BOOST_TEST(r.exit_status == EXIT_SUCCESS_STATUS);
    std::regex mod_re(R"(module (\d): \[0x([0-9a-f]+), 0x([0-9a-f]+)\) '([^']*)')");
    std::vector<std::string> names;
    for (auto& line : r.lines()) {
        std::smatch m;
        if (!std::regex_search(line, m, mod_re)) continue;
        BOOST_TEST(std::stoul(m[3], nullptr, 16) - std::stoul(m[2], nullptr, 16) == 10000u);
        BOOST_TEST(std::stoul(m[2], nullptr, 16) % 4096 == 0u); // page-aligned (header tag)
        names.push_back(m[4]);
    }
    BOOST_TEST((names == std::vector<std::string>{"first arg=1", "second"}));
}

BOOST_AUTO_TEST_CASE(bad_command_line_options_warn_and_boot_continues) {
    BootSpec spec;
    spec.cmdline = BASE + " frobnicate=1 loglvl=loud no-selftest com1=fast selftest=ticks";
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE(r.console);
    BOOST_TEST(r.exit_status == EXIT_SUCCESS_STATUS);
    BOOST_TEST(r.contains("frobnicate"));
    BOOST_TEST(r.contains("loud"));
    BOOST_TEST(r.contains("fast"));
    BOOST_TEST(r.contains("all 1 CPUs online"));
    BOOST_TEST(r.contains("selftest ticks: PASS"));
}

BOOST_AUTO_TEST_CASE(loglvl_filters_console_output) {
    BootSpec spec;
    spec.cmdline = "console=com1 loglvl=error debug-exit=0xf4 selftest=ticks";
    BootResult quiet = boot(spec);
    BOOST_TEST(quiet.exit_status == EXIT_SUCCESS_STATUS);
    BOOST_TEST(!quiet.contains("Virtue hypervisor starting"));
    BOOST_TEST(!quiet.contains("CPUs online"));
    BOOST_TEST(quiet.contains("selftest ticks: PASS")); // verdicts are unfiltered
    spec.cmdline = "console=com1 loglvl=debug debug-exit=0xf4 selftest=ticks";
    BootResult loud = boot(spec);
    BOOST_TEST(loud.contains("Virtue hypervisor starting"));
}

BOOST_AUTO_TEST_CASE(panic_with_noreboot_halts) {
    BootSpec spec;
    spec.cmdline = "console=com1 noreboot selftest=panic";
    spec.stop_after = "halting";
    spec.stop_grace_s = 2;
    spec.timeout_s = 60;
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE(r.console);
    BOOST_TEST(r.contains("**** PANIC on CPU 0: selftest: panic requested ****"));
    BOOST_TEST(r.contains("halting"));
    BOOST_TEST(r.stopped); // still running (halted) 2 s later: it did not reboot
}

BOOST_AUTO_TEST_CASE(panic_without_noreboot_reboots) {
    BootSpec spec;
    spec.cmdline = "console=com1 selftest=panic";
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE(r.console);
    BOOST_TEST(r.contains("**** PANIC on CPU 0: selftest: panic requested ****"));
    BOOST_TEST(r.contains("rebooting"));
    BOOST_TEST(r.exited); // -no-reboot turns the reset into QEMU exiting
    BOOST_TEST(r.exit_status == 0);
}

BOOST_AUTO_TEST_SUITE_END()
