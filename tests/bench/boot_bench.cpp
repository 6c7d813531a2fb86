// make bench: boots the hypervisor in QEMU and prints boot-time figures the
// hypervisor measures itself from the TSC (entry to first log line, entry to
// all CPUs online). Median of several boots per configuration.
#include <algorithm>
#include <cstdio>
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
    return 0;
}
