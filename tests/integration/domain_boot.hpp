// Helpers for integration tests that boot device-tree configurations from
// tests/configs/ with the SDK-built domains (tests/domains/,
// hypercalls/examples/).
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <limits>
#include <regex>
#include <string>

#include "qemu_runner.hpp"

namespace virtue::test {

inline std::string build_dir() {
    const char* b = std::getenv("VIRTUE_BUILD");
    return b && *b ? b : "build";
}

// Boots tests/configs/<config>.dts with every test image available as a
// module ("test", "spinner", "fuzzer", "hello", "memory-test", "thread-test",
// "two-process", "gc-barrier", "evtchn-test", and the PV kernel images
// "pv-shaped", "pv-bad-base", "pv-dom0", "pv-no-entry" with "initrd", and
// the PV test kernel "pv-test").
inline BootResult boot_config(const std::string& config, int smp = 1, int timeout_s = 90, int mem_mib = 256,
                              const std::string& console_input = "", const std::string& extra_cmdline = "") {
    BootSpec spec;
    spec.cmdline = "console=com1 com1=115200,8n1 loglvl=info debug-exit=0xf4 shutdown-when-done";
    if (!extra_cmdline.empty()) spec.cmdline += " " + extra_cmdline;
    spec.smp = smp;
    spec.mem_mib = mem_mib;
    spec.timeout_s = timeout_s;
    spec.console_input = console_input;
    std::string b = build_dir();
    spec.modules = {{b + "/test-configs/" + config + ".dtb", "config"},
                    {b + "/domains/test-domain.elf", "test"},
                    {b + "/domains/spinner.elf", "spinner"},
                    {b + "/domains/fuzzer.elf", "fuzzer"},
                    {b + "/domains/hello.elf", "hello"},
                    {b + "/domains/memory-test.elf", "memory-test"},
                    {b + "/domains/thread-test.elf", "thread-test"},
                    {b + "/domains/two-process.elf", "two-process"},
                    {b + "/domains/gc-barrier.elf", "gc-barrier"},
                    {b + "/domains/evtchn-test.elf", "evtchn-test"},
                    // PV kernel images (tests/tools/make_pv_images.cpp)
                    {b + "/test-images/pv-shaped.elf", "pv-shaped"},
                    {b + "/test-images/pv-bad-base.elf", "pv-bad-base"},
                    {b + "/test-images/pv-dom0.elf", "pv-dom0"},
                    {b + "/test-images/pv-no-entry.elf", "pv-no-entry"},
                    {b + "/test-images/initrd.bin", "initrd"},
                    {b + "/pv/pv-test.elf", "pv-test"}}; // our PV test kernel (tests/pv/)
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE(r.console);
    return r;
}

inline void require_clean_end(const BootResult& r) {
    BOOST_REQUIRE_MESSAGE(!r.timed_out, "QEMU timed out");
    BOOST_TEST(!r.contains("PANIC"));
    BOOST_TEST(r.contains("all domains have ended"));
    BOOST_TEST(r.exit_status == EXIT_SUCCESS_STATUS);
}

// Position of the first line containing text, or npos.
inline size_t line_of(const BootResult& r, const std::string& text) {
    auto lines = r.lines();
    for (size_t i = 0; i < lines.size(); i++)
        if (lines[i].find(text) != std::string::npos) return i;
    return std::string::npos;
}

// The status ended() reports when there is no end line: one no test
// expects, so the caller's own status check fails as well.
inline constexpr long kNoEndLine = std::numeric_limits<long>::min();

struct Ended {
    long status = kNoEndLine;
    double cpu_ms = 0;
    bool found = false;
};

// The end line of domain `name`:
// "d3 'name' exited (status 0): ran 4.012 s, cpu 1333.100 ms".
// A missing end line fails the test here, whatever the caller checks next.
inline Ended ended(const BootResult& r, const std::string& name) {
    std::smatch m;
    std::regex re("d\\d+ '" + name + "' ([a-z ]+) \\(status (-?\\d+)\\): ran [0-9.]+ s, cpu ([0-9.]+) ms");
    Ended e;
    if (std::regex_search(r.console, m, re)) {
        e.found = true;
        e.status = std::stol(m[2]);
        e.cpu_ms = std::stod(m[3]);
    }
    BOOST_TEST(e.found, "domain '" << name << "' has no end line (\"d<N> '" << name << "' ... (status S): ...\")");
    return e;
}

// Xen's end line of PV domain `name`: "dN 'name' shut down (<reason>)
// (status <status>)".
inline bool shut_down(const BootResult& r, const std::string& name, const std::string& reason, int status) {
    return std::regex_search(r.console, std::regex("d\\d+ '" + name + "' shut down \\(" + reason + "\\) \\(status " +
                                                   std::to_string(status) + "\\)"));
}

// Domain `name` printed "<label>: N checks, 0 failed" with N > 0 (the
// test domains' summary line, tests/domains/checks.hpp).
inline bool checks_passed(const BootResult& r, const std::string& name, const std::string& label) {
    return std::regex_search(r.console, std::regex("\\(" + name + "\\) " + label + ": [1-9]\\d* checks, 0 failed"));
}

// Every domain's frames came back: "dN: F frames returned, 0 still owned",
// and the final census has no domain frames.
inline void check_reclaimed(const BootResult& r, size_t domains) {
    std::regex re(R"(d\d+: (\d+) frames returned, (\d+) still owned)");
    size_t n = 0;
    for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), re); it != std::sregex_iterator(); ++it) {
        n++;
        BOOST_TEST((*it)[2].str() == "0");
    }
    BOOST_TEST(n == domains);
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(all domains have ended[\s\S]*frames: \d+ RAM, \d+ free, \d+ hypervisor, 0 domain)")));
}

} // namespace virtue::test
