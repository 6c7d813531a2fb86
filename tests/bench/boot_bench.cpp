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

BootResult boot_config(const std::string& config, int smp) {
    BootSpec spec;
    spec.cmdline = "console=com1 loglvl=info debug-exit=0xf4 shutdown-when-done";
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
void ipc_figures() {
    std::printf("\n# Between domains (tests/domains/evtchn_test; ratio: to the null hypercall above)\n");
    std::printf("%-58s %10s %10s\n", "operation", "cycles", "ratio");
    struct RoundTrip {
        const char* config;
        const char* label;
        const char* line; // the client's line; group 1: cycles per round trip
    };
    const RoundTrip trips[] = {
        {"evtchn_pingpong", "event channel round trip",
         R"(\(client\) ping: \d+ round trips, (\d+) cycles each, 0 failures)"},
        {"ipc_pingpong", "IPC call/reply round trip",
         R"(\(client\) ipcping: \d+ round trips, (\d+) cycles each, 0 failures)"},
    };
    for (const RoundTrip& trip : trips) {
        for (int cpus : {1, 2}) {
            BootResult r = boot_config(trip.config, cpus);
            std::smatch m;
            char what[80];
            std::snprintf(what, sizeof what, "%s, %s", trip.label, cpus == 1 ? "same CPU" : "two CPUs");
            if (std::regex_search(r.console, m, std::regex(trip.line)))
                std::printf("%-58s %10s %10.0f\n", what, m[1].str().c_str(),
                            g_null_cycles ? std::stod(m[1].str()) / g_null_cycles : 0);
            else
                std::printf("%-58s failed\n", what);
        }
    }
    std::printf("%-58s %10s %10s\n", "ring transfer, 2 CPUs", "MiB/s", "ns/page ÷ null");
    struct Transfer {
        const char* config;
        const char* label;
        const char* mib;
    };
    const Transfer transfers[] = {
        {"xfer_copy", "  256 MiB in 4 KiB pages by grant_copy", "256"},
        {"xfer_map", "  256 MiB in 4 KiB pages by grant_map", "256"},
        {"xfer_xen_copy", "  64 MiB by GNTTABOP_copy (Xen family)", "64"},
    };
    for (const Transfer& t : transfers) {
        BootResult r = boot_config(t.config, 2);
        std::smatch m;
        if (std::regex_search(r.console, m,
                              std::regex(std::string(R"(\(sink\) sink: )") + t.mib +
                                         R"( MiB received, checksum [0-9a-f]+, (\d+) MiB/s)"))) {
            double mibps = std::stod(m[1].str());
            double ns_per_page = mibps > 0 ? 1e9 / (mibps * 256) : 0;
            std::printf("%-58s %10s %10.0f\n", t.label, m[1].str().c_str(), g_null_ns ? ns_per_page / g_null_ns : 0);
        } else {
            std::printf("%-58s failed\n", t.label);
        }
    }
}

void domain_figures() {
    std::printf("\n# Native domain figures (ring-3 rdtsc, median of 101 batches of 200; QEMU TCG, 1 CPU)\n");
    std::printf("%-58s %10s %10s\n", "operation", "cycles", "ns");
    print_bench_lines(boot_config("bench", 1));
    print_bench_lines(boot_config("bench_xdomain", 1));
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
    return 0;
}
