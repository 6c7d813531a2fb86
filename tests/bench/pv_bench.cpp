// make bench-vs-xen: the PV test kernel's bench mode (tests/pv/kernel/bench.cpp)
// on Debian's real Xen 4.17 (as dom0) and on Virtue (as a PV domU shaped
// like that dom0: 64 MiB, two vCPUs), in the same QEMU, one boot at a time
// so that they do not share the host's cores. Prints each figure as the
// median over the boots, and the ratio Virtue/Xen.
// usage: pv-bench [BOOTS]   (default 3 boots of each)
// PV_BENCH_CONSOLE=1 prints every boot's console too; PV_BENCH_XEN_CMDLINE
// adds options to Xen's command line (e.g. spec-ctrl=no).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "../integration/xen_oracle.hpp"

using namespace virtue::test;

namespace {

std::string build_dir() {
    const char* b = std::getenv("VIRTUE_BUILD");
    return b && *b ? b : "build";
}

// The figures one boot printed ("BENCH name: N cycles"), in order; an
// error line or a missing "BENCH done" makes the boot count as failed.
struct Figures {
    std::vector<std::string> order;
    std::map<std::string, double> cycles;
    std::string problem;
};

Figures read_figures(const BootResult& r, const char* who) {
    Figures f;
    static const std::regex line(R"(BENCH ([a-z0-9_]+): (\d+) cycles)");
    for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), line); it != std::sregex_iterator(); ++it) {
        f.order.push_back((*it)[1]);
        f.cycles[(*it)[1]] = std::stod((*it)[2]);
    }
    std::smatch m;
    if (std::regex_search(r.console, m, std::regex(R"(BENCH-ERROR [^\n]*)")))
        f.problem = m[0];
    else if (!r.contains("BENCH done"))
        f.problem = std::string("no \"BENCH done\" from ") + who + (r.timed_out ? " (QEMU timed out)" : "");
    return f;
}

BootResult boot_virtue(const std::vector<std::string>& qemu_args) {
    BootSpec spec;
    spec.cmdline = "console=com1 com1=115200,8n1 loglvl=info debug-exit=0xf4 shutdown-when-done";
    spec.smp = 2;
    spec.mem_mib = 256;
    spec.timeout_s = 300;
    spec.qemu_args = qemu_args;
    const std::string b = build_dir();
    spec.modules = {{b + "/test-configs/pv_bench.dtb", "config"}, {b + "/pv/pv-test.elf", "pv-test"}};
    return boot(spec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? -1 : v[v.size() / 2];
}

// One way of running QEMU, and the figures of every boot in it.
struct Mode {
    const char* title;
    std::vector<std::string> qemu_args;
};

int run_mode(const Mode& mode, int boots, const std::string& kernel, const std::string& xen_extra) {
    std::printf("\n# %s: median of %d boots each, TSC cycles per operation\n", mode.title, boots);
    std::fflush(stdout);
    std::map<std::string, std::vector<double>> on_xen, on_virtue;
    std::vector<std::string> order;
    int failures = 0;
    for (int i = 0; i < boots; i++) {
        XenBootOptions o;
        o.timeout_s = 300;
        o.kernel_cmdline = "bench";
        o.extra_xen_cmdline = xen_extra;
        o.qemu_args = mode.qemu_args;
        XenBoot x = boot_on_xen(kernel, o);
        if (!x.error.empty()) {
            std::printf("FAILED: %s\n", x.error.c_str());
            return 1;
        }
        const BootResult v = boot_virtue(mode.qemu_args);
        if (std::getenv("PV_BENCH_CONSOLE")) std::printf("%s\n----\n%s\n----\n", x.result.console.c_str(), v.console.c_str());
        Figures fx = read_figures(x.result, "Xen");
        Figures fv = read_figures(v, "Virtue");
        for (auto* f : {&fx, &fv})
            if (!f->problem.empty()) {
                std::printf("boot %d: %s\n", i + 1, f->problem.c_str());
                failures++;
            }
        if (order.empty()) order = fx.order.size() >= fv.order.size() ? fx.order : fv.order;
        for (auto& [name, c] : fx.cycles) on_xen[name].push_back(c);
        for (auto& [name, c] : fv.cycles) on_virtue[name].push_back(c);
    }
    std::printf("%-26s %12s %12s %8s\n", "operation", "Xen", "Virtue", "V/X");
    for (auto& name : order) {
        const double x = median(on_xen[name]), v = median(on_virtue[name]);
        std::printf("%-26s %12.0f %12.0f %8.2f\n", name.c_str(), x, v, x > 0 && v > 0 ? v / x : -1.0);
    }
    std::fflush(stdout);
    return failures;
}

} // namespace

int main(int argc, char** argv) {
    const int boots = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
    const std::string kernel = build_dir() + "/pv/pv-test.elf";
    const char* extra = std::getenv("PV_BENCH_XEN_CMDLINE");
    std::printf("# The PV test kernel's bench mode (tests/pv/kernel/bench.cpp): real Xen 4.17 (%s as dom0%s%s) vs "
                "Virtue (a PV domU of 64 MiB, 2 vCPUs), QEMU -cpu max,-smap -smp 2\n",
                xen_image().c_str(), extra ? ", Xen options: " : "", extra ? extra : "");
    // TCG as the tests run it: the TSC follows the host's clock, so a
    // figure is what emulating the path costs. With -icount shift=0 the
    // TSC advances 1 ns per instruction executed: a figure then counts the
    // instructions of the path, whatever they cost to emulate.
    const Mode modes[] = {{"QEMU TCG", {}}, {"QEMU TCG -icount shift=0 (instructions)", {"-icount", "shift=0"}}};
    int failures = 0;
    for (auto& m : modes) failures += run_mode(m, boots, kernel, extra ? extra : "");
    return failures ? 1 : 0;
}
