// make bench: boots the hypervisor in QEMU and prints
//  - boot-time figures the hypervisor measures itself from the TSC (entry to
//    first log line, entry to all CPUs online), median of several boots;
//  - native-domain figures: hypercall round trips and context switches as
//    measured in ring 3 by the bench domain (tests/bench/domains/bench), and
//    domain creation time and per-domain hypervisor memory as the
//    hypervisor logs them.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "../integration/qemu_runner.hpp"

using namespace virtue::test;

namespace {

double median(std::vector<double> v) {
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::string build_dir() {
    const char* b = std::getenv("VIRTUE_BUILD");
    return b && *b ? b : "build";
}

// The longest time any hypercall held its CPU with interrupts off, over
// every boot of this run (each boot logs its own at the end).
struct WorstHold {
    double cycles = -1, us = 0;
    std::string call, config;
} g_worst_hold;

// And the longest per call (each boot logs its four next-longest too), in
// microseconds, with the boot it came from.
std::map<std::string, std::pair<double, std::string>> g_hold_by_call;
double g_holds_total = 0, g_holds_over = 0; // every boot's holds, and those over 1 ms

void note_worst_hold(const BootResult& r, const std::string& config) {
    std::smatch m;
    static const std::regex re(
        R"(longest hypercall hold with interrupts off: (\d+) cycles, (\d+) us \((call (0x[0-9a-f]+)|releasing closed memory objects)\))");
    if (!std::regex_search(r.console, m, re)) return;
    const double cycles = std::stod(m[1]);
    const std::string what = m[4].matched ? m[4].str() : m[3].str();
    if (cycles > g_worst_hold.cycles) g_worst_hold = {cycles, std::stod(m[2]), what, config};
    static const std::regex counts(R"(hypercall holds: (\d+), of which (\d+) longer than 1 ms)");
    if (std::regex_search(r.console, m, counts)) {
        g_holds_total += std::stod(m[1]);
        g_holds_over += std::stod(m[2]);
    }
    static const std::regex each(R"(hold(?: with interrupts off: \d+ cycles,|:) (\d+) us \((?:call (0x[0-9a-f]+)|(releasing closed memory objects))\))");
    for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), each); it != std::sregex_iterator(); ++it) {
        const std::string call = (*it)[2].matched ? (*it)[2].str() : (*it)[3].str();
        const double us = std::stod((*it)[1]);
        auto& slot = g_hold_by_call[call];
        if (us > slot.first) slot = {us, config};
    }
}

BootResult boot_config_once(const std::string& config, int smp);

BootResult boot_config(const std::string& config, int smp) {
    BootResult r = boot_config_once(config, smp);
    note_worst_hold(r, config);
    return r;
}

BootResult boot_config_once(const std::string& config, int smp) {
    BootSpec spec;
    spec.cmdline = "console=com1 loglvl=info debug-exit=0xf4 shutdown-when-done";
    // The hold measurement costs two TSC reads a call: not in the boots
    // that time single calls and round trips.
    if (config != "bench" && config != "bench_xdomain" && config.find("pingpong") == std::string::npos)
        spec.cmdline += " hypercall-hold-stats";
    spec.smp = smp;
    spec.timeout_s = 120;
    std::string b = build_dir();
    spec.modules = {{b + "/test-configs/" + config + ".dtb", "config"},
                    {b + "/domains/bench.elf", "bench"},
                    {b + "/domains/test-domain.elf", "test"},
                    {b + "/domains/thread-test.elf", "thread-test"},
                    {b + "/domains/evtchn-test.elf", "evtchn-test"}};
    return boot(spec);
}

// The same holds in emulated instructions: the boots above measure with
// the TSC, which runs on while the host stalls QEMU (a few holds over 1 ms
// in a run are such moments, not long steps). With -icount shift=1 the
// guest's clock advances 2 ns per instruction executed, so a hold is what
// the hypervisor did, whatever the host was doing meanwhile.
void instruction_time_holds() {
    std::printf("\n# The same, in emulated instructions (QEMU -icount shift=1: 1 instruction = 2 ns of guest time)\n");
    std::printf("%-16s %12s %10s  %s\n", "boot", "holds", "over 1 ms", "longest (us) and call, then the next ones");
    for (const char* config : {"bench_memory", "bench_faults", "bench_threads", "xfer_copy", "xfer_map",
                               "xfer_xen_copy", "three"}) {
        BootSpec spec;
        spec.cmdline = "console=com1 loglvl=info debug-exit=0xf4 shutdown-when-done hypercall-hold-stats";
        spec.smp = 1;
        spec.timeout_s = 300;
        spec.qemu_args = {"-icount", "shift=1"};
        std::string b = build_dir();
        spec.modules = {{b + "/test-configs/" + config + ".dtb", "config"},
                        {b + "/domains/bench.elf", "bench"},
                        {b + "/domains/test-domain.elf", "test"},
                        {b + "/domains/thread-test.elf", "thread-test"},
                        {b + "/domains/evtchn-test.elf", "evtchn-test"}};
        BootResult r = boot(spec);
        std::smatch m;
        std::string holds = "?", over = "?", longest;
        if (std::regex_search(r.console, m, std::regex(R"(hypercall holds: (\d+), of which (\d+) longer than 1 ms)")))
            holds = m[1], over = m[2];
        static const std::regex each(R"(hold(?: with interrupts off: \d+ cycles,|:) (\d+) us \((?:call (0x[0-9a-f]+)|(releasing closed memory objects))[;)])");
        for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), each); it != std::sregex_iterator(); ++it)
            longest += std::string(longest.empty() ? "" : ", ") + (*it)[1].str() + " " +
                       ((*it)[2].matched ? (*it)[2].str() : std::string("release"));
        std::printf("%-16s %12s %10s  %s\n", config, holds.c_str(), over.c_str(), longest.c_str());
    }
}

double g_null_cycles = 0, g_null_ns = 0; // this run's null hypercall, for the ratios

// Prints every "(bench) bench: <what>: N cycles, M ns" line of a run.
void print_bench_lines(const BootResult& r) {
    std::regex re(R"(\(bench\) bench: (.+): (\d+) cycles, (\d+) ns)");
    for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), re); it != std::sregex_iterator(); ++it) {
        std::printf("%-58s %10s %10s\n", (*it)[1].str().c_str(), (*it)[2].str().c_str(), (*it)[3].str().c_str());
        if ((*it)[1].str().rfind("null hypercall", 0) == 0) {
            g_null_cycles = std::stod((*it)[2].str());
            g_null_ns = std::stod((*it)[3].str());
        }
    }
}

// Event channels, rings and grants between two native domains
// (tests/domains/evtchn_test), with ratios to this run's null hypercall.
// One boot's round trip can be off by 1.5x on a busy host, so each figure
// is the median of several boots, taken round-robin across the figures
// (host drift then touches all of them alike); the spread is printed too.
void ipc_figures() {
    constexpr int kTripBoots = 5, kTransferBoots = 3;
    std::printf("\n# Between domains (tests/domains/evtchn_test; median of %d boots each, round-robin; "
                "ratio: to the null hypercall above)\n",
                kTripBoots);
    std::printf("%-58s %10s %10s %21s\n", "operation", "cycles", "ratio", "min .. max");
    struct Figure {
        const char* config;
        int cpus;
        std::string label;
        std::string line; // group 1: the figure
        std::vector<double> values;
    };
    const std::string ping = R"(\(client\) ping: \d+ round trips, (\d+) cycles each, 0 failures)";
    const std::string ipc = R"(\(client\) ipcping: \d+ round trips, (\d+) cycles each, 0 failures)";
    std::vector<Figure> trips = {
        {"evtchn_pingpong", 1, "event channel round trip, same CPU", ping, {}},
        {"ipc_pingpong", 1, "IPC call/reply round trip, same CPU", ipc, {}},
        {"evtchn_pingpong", 2, "event channel round trip, two CPUs", ping, {}},
        {"ipc_pingpong", 2, "IPC call/reply round trip, two CPUs", ipc, {}},
        {"ipc_pingpong_regs", 1, "IPC round trip, message in registers, same CPU", ipc, {}},
        {"ipc_pingpong_regs", 2, "IPC round trip, message in registers, two CPUs", ipc, {}},
    };
    auto sink_line = [](const char* mib) {
        return std::string(R"(\(sink\) sink: )") + mib + R"( MiB received, checksum [0-9a-f]+, (\d+) MiB/s)";
    };
    std::vector<Figure> transfers = {
        {"xfer_copy", 2, "  256 MiB in 4 KiB pages by grant_copy", sink_line("256"), {}},
        {"xfer_map", 2, "  256 MiB in 4 KiB pages by grant_map", sink_line("256"), {}},
        {"xfer_xen_copy", 2, "  64 MiB by GNTTABOP_copy (Xen family)", sink_line("64"), {}},
    };
    auto collect = [](std::vector<Figure>& figures, int boots) {
        for (int round = 0; round < boots; round++)
            for (Figure& f : figures) {
                BootResult r = boot_config(f.config, f.cpus);
                std::smatch m;
                if (std::regex_search(r.console, m, std::regex(f.line))) f.values.push_back(std::stod(m[1].str()));
            }
    };
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    collect(trips, kTripBoots);
    for (const Figure& f : trips) {
        if (f.values.empty()) {
            std::printf("%-58s failed\n", f.label.c_str());
            continue;
        }
        const double med = median(f.values);
        std::printf("%-58s %10.0f %10.0f %10.0f .. %7.0f\n", f.label.c_str(), med, g_null_cycles ? med / g_null_cycles : 0,
                    *std::min_element(f.values.begin(), f.values.end()),
                    *std::max_element(f.values.begin(), f.values.end()));
    }
    char heading[80];
    std::snprintf(heading, sizeof heading, "ring transfer, 2 CPUs (median of %d boots)", kTransferBoots);
    std::printf("%-58s %10s %10s %21s\n", heading, "MiB/s", "ns/page ÷ null", "min .. max");
    collect(transfers, kTransferBoots);
    for (const Figure& f : transfers) {
        if (f.values.empty()) {
            std::printf("%-58s failed\n", f.label.c_str());
            continue;
        }
        const double mibps = median(f.values);
        const double ns_per_page = mibps > 0 ? 1e9 / (mibps * 256) : 0;
        std::printf("%-58s %10.0f %10.0f %10.0f .. %7.0f\n", f.label.c_str(), mibps,
                    g_null_ns ? ns_per_page / g_null_ns : 0, *std::min_element(f.values.begin(), f.values.end()),
                    *std::max_element(f.values.begin(), f.values.end()));
    }
}

void domain_figures() {
    std::printf("\n# Native domain figures (ring-3 rdtsc, median of 101 batches of 200; QEMU TCG, 1 CPU)\n");
    std::printf("%-58s %10s %10s\n", "operation", "cycles", "ns");
    print_bench_lines(boot_config("bench", 1));
    {
        BootResult x = boot_config("bench_xdomain", 1);
        print_bench_lines(x);
        // Batches in which a yield did not switch to the partner and back
        // are redone (tests/bench/domains/bench/main.cpp, xdomain_figures).
        std::smatch m;
        if (std::regex_search(x.console, m, std::regex(R"(domain switch batches: (\d+) kept, (\d+) discarded)")))
            std::printf("  (domain switch: %s batches kept, %s redone because the partner did not switch)\n",
                        m[1].str().c_str(), m[2].str().c_str());
        else
            std::printf("  (domain switch: no batch count: the xdomain boot failed)\n");
    }
    std::printf("\n# Address-space calls (ring-3 rdtsc; 1 page and 512 pages: median of 101 batches of 200 "
                "or 11 single runs; 1 GiB: median of 5 runs)\n");
    print_bench_lines(boot_config("bench_memory", 1));
    std::printf("\n# Threads (ring-3 rdtsc, median of 101 batches of 200; QEMU TCG, 1 CPU)\n");
    print_bench_lines(boot_config("bench_threads", 1));
    for (int cpus : {1, 2}) {
        // thread-test's faults=10000: each touch of the worker faults, and
        // the handler thread maps a zeroed frame and resumes it.
        BootResult f = boot_config("bench_faults", cpus);
        std::smatch m;
        if (std::regex_search(f.console, m, std::regex(R"(faults: 10000 served.* (\d+) cycles per fault)"))) {
            char what[80];
            std::snprintf(what, sizeof what, "demand-zero fault via the handler thread, %d CPU%s", cpus,
                          cpus > 1 ? "s" : "");
            std::printf("%-58s %10s %10s\n", what, m[1].str().c_str(), "(cycles)");
        } else {
            std::printf("demand-zero fault run failed\n");
        }
    }

    ipc_figures();

    std::printf("\n# Domain creation from the device tree (hypervisor-measured, 4 MiB test domains)\n");
    BootResult r = boot_config("three", 1);
    std::regex re(R"(d\d+ '(\w+)': (\d+) KiB, (\d+) thread\(s\).*built in (\d+) us, hypervisor overhead (\d+) bytes)");
    std::printf("%-10s %10s %8s %16s %26s\n", "domain", "memory", "threads", "build time (us)", "hypervisor overhead (B)");
    for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), re); it != std::sregex_iterator(); ++it)
        std::printf("%-10s %7s KiB %8s %16s %26s\n", (*it)[1].str().c_str(), (*it)[2].str().c_str(),
                    (*it)[3].str().c_str(), (*it)[4].str().c_str(), (*it)[5].str().c_str());
}

} // namespace

int main(int argc, char** argv) {
    int runs = argc > 1 ? std::atoi(argv[1]) : 5;
    const char* flavour = std::getenv("VIRTUE_FLAVOUR");
    std::printf("# Hypervisor flavour measured: %s (%s)\n", flavour ? flavour : "unknown", build_dir().c_str());
    std::printf("# Boot figures (hypervisor-measured from the TSC; QEMU TCG, median of %d boots)\n", runs);
    std::printf("%-8s %-8s %22s %24s\n", "cpus", "memory", "first log line (us)", "all CPUs online (ms)");
    for (int smp : {1, 2, 4}) {
        std::vector<double> first, online;
        for (int i = 0; i < runs; i++) {
            BootSpec spec;
            spec.cmdline = "console=com1 loglvl=info debug-exit=0xf4 selftest=ticks";
            spec.smp = smp;
            spec.mem_mib = 512;
            BootResult r = boot(spec);
            std::smatch m;
            if (std::regex_search(r.console, m, std::regex(R"(boot: first log line (\d+) us after entry)")))
                first.push_back(std::stod(m[1]));
            if (std::regex_search(r.console, m, std::regex(R"(all \d+ CPUs online (\d+\.\d+) ms after entry)")))
                online.push_back(std::stod(m[1]));
        }
        std::printf("%-8d %-8s %22.0f %24.3f\n", smp, "512 MiB", median(first), median(online));
    }
    domain_figures();
    std::printf("\n# Longest time a hypercall held its CPU with interrupts off (boots other than the per-call timings)\n");
    if (g_worst_hold.cycles < 0)
        std::printf("not reported (the hypervisor logs it when the last domain ends)\n");
    else
        std::printf("%.0f cycles, %.0f us: call %s, in the %s boot\n", g_worst_hold.cycles, g_worst_hold.us,
                    g_worst_hold.call.c_str(), g_worst_hold.config.c_str());
    std::printf("%.0f holds in all, %.0f of them longer than 1 ms\n", g_holds_total, g_holds_over);
    // Per call, longest first (0x1016 is memory_audit, a self-test that is
    // not preemptible; the host's own preemption of QEMU shows up here too).
    std::vector<std::pair<double, std::string>> by_call;
    for (const auto& [call, v] : g_hold_by_call) by_call.push_back({v.first, call + " (" + v.second + " boot)"});
    std::sort(by_call.rbegin(), by_call.rend());
    for (const auto& [us, what] : by_call) std::printf("  %8.0f us  %s\n", us, what.c_str());
    instruction_time_holds();
    return 0;
}
