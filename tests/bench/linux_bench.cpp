// make bench-vs-xen, the Linux half: Debian's generic kernel with the
// busybox initramfs and the benchmark of tests/linux/guest_bench.c, booted
// as dom0 on Debian's real Xen 4.17 (256 MiB, two vCPUs; the cloud kernel
// cannot be a dom0) and as a PV domU on Virtue (tests/configs/
// linux_bench_generic.dts: the same memory and vCPUs), in the same QEMU,
// one boot at a time. Prints each figure as the median over the boots and
// the ratio Virtue/Xen; a figure a system cannot give is printed with why.
// The hypervisor's own memory with the guest running: on Xen what its dom0
// computes (physinfo's total less free pages and its own), on Virtue its
// count of hypervisor frames once the domains started.
// usage: linux-bench [BOOTS]   (default 3 boots of each)
// LINUX_BENCH_CONSOLE=1 prints every boot's console too.
#include <algorithm>
#include <cstdint>
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

constexpr const char* kKernel = "build/linux/generic/vmlinux";
constexpr const char* kInitrd = "build/linux/generic/initramfs.cpio.gz";
constexpr const char* kCmdline = "console=hvc0 virtue-bench";

// What one boot printed: "BENCH name N ns" figures, "BENCH name
// unavailable: why", and the host time from QEMU's start to "Run /init".
struct Figures {
    std::map<std::string, double> ns;
    double footprint_kib = -1; // the hypervisor's own memory with the guest running
    double modules_kib = 0;     // Virtue: the boot modules it keeps besides (not in footprint_kib)
    std::map<std::string, std::string> unavailable;
    double run_init_s = -1;
    bool done = false;
};

Figures read_figures(const BootResult& r) {
    Figures f;
    const auto lines = r.lines();
    static const std::regex figure(R"(BENCH ([a-z_]+) (\d+) ns)"), missing(R"(BENCH ([a-z_]+) unavailable: (.*))");
    for (size_t i = 0; i < lines.size(); i++) {
        std::smatch m;
        if (std::regex_search(lines[i], m, figure)) f.ns[m[1]] = std::stod(m[2]);
        else if (std::regex_search(lines[i], m, missing)) f.unavailable[m[1]] = m[2];
        if (f.run_init_s < 0 && lines[i].find("Run /init as init process") != std::string::npos && i < r.line_times.size())
            f.run_init_s = r.line_times[i];
        if (lines[i].find("BENCH done") != std::string::npos) f.done = true;
        // Xen: what its dom0 computed (physinfo less free and dom0's pages).
        if (std::regex_search(lines[i], m, std::regex(R"(BENCH-MEM hypervisor_footprint (\d+) KiB)")))
            f.footprint_kib = std::stod(m[1]);
    }
    // Virtue: its own count of hypervisor frames once the domains started,
    // less the boot modules it keeps (to build a guest again on reboot;
    // Xen frees its dom0's kernel and initrd once dom0 is built).
    const size_t started = r.console.find("domain(s) started in");
    std::smatch m;
    if (started != std::string::npos &&
        std::regex_search(r.console.cbegin() + static_cast<long>(started), r.console.cend(), m,
                          std::regex(R"(frames: \d+ RAM, \d+ free, (\d+) hypervisor, \d+ domain)"))) {
        double modules_kib = 0;
        static const std::regex module(R"(module \d+: \[0x([0-9a-f]+), 0x([0-9a-f]+)\))");
        for (auto it = std::sregex_iterator(r.console.begin(), r.console.end(), module); it != std::sregex_iterator(); ++it) {
            const uint64_t begin = std::stoull((*it)[1], nullptr, 16) & ~uint64_t{0xfff};
            const uint64_t end = (std::stoull((*it)[2], nullptr, 16) + 0xfff) & ~uint64_t{0xfff};
            modules_kib += static_cast<double>(end - begin) / 1024;
        }
        f.footprint_kib = std::stod(m[1]) * 4 - modules_kib;
        f.modules_kib = modules_kib;
    }
    return f;
}

BootResult boot_virtue() {
    BootSpec spec;
    spec.cmdline = "console=com1 com1=115200,8n1 loglvl=info debug-exit=0xf4 shutdown-when-done";
    spec.smp = 2;
    spec.mem_mib = 512;
    spec.timeout_s = 400;
    spec.modules = {{build_dir() + "/test-configs/linux_bench_generic.dtb", "config"}, {kKernel, "linux"}, {kInitrd, "linux-initrd"}};
    return boot(spec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    const int boots = argc > 1 ? std::atoi(argv[1]) : 3;
    const bool show = std::getenv("LINUX_BENCH_CONSOLE") != nullptr;
    std::map<std::string, std::vector<double>> xen, virtue;
    std::map<std::string, std::string> why_xen, why_virtue;
    for (int i = 0; i < boots; i++) {
        XenBootOptions o;
        o.kernel_cmdline = kCmdline;
        o.initrd = kInitrd;
        o.extra_xen_cmdline = "dom0_mem=256M";
        o.mem_mib = 512;
        o.timeout_s = 400;
        XenBoot x = boot_on_xen(kKernel, o);
        if (!x.error.empty()) {
            std::printf("real Xen: %s\n", x.error.c_str());
            return 1;
        }
        BootResult v = boot_virtue();
        if (show) std::printf("%s\n%s\n", x.result.console.c_str(), v.console.c_str());
        const Figures fx = read_figures(x.result), fv = read_figures(v);
        if (!fx.done || !fv.done) {
            std::printf("boot %d: the benchmark did not finish on %s\n", i + 1, !fx.done ? "real Xen" : "Virtue");
            return 1;
        }
        for (auto& [k, n] : fx.ns) xen[k].push_back(n);
        for (auto& [k, n] : fv.ns) virtue[k].push_back(n);
        for (auto& [k, w] : fx.unavailable) why_xen[k] = w;
        for (auto& [k, w] : fv.unavailable) why_virtue[k] = w;
        if (fx.footprint_kib > 0) xen["hypervisor_footprint"].push_back(fx.footprint_kib);
        if (fv.footprint_kib > 0) virtue["hypervisor_footprint"].push_back(fv.footprint_kib);
        if (fv.modules_kib > 0) virtue["boot_modules_kept"].push_back(fv.modules_kib);
        xen["qemu_start_to_run_init"].push_back(fx.run_init_s * 1e9);
        virtue["qemu_start_to_run_init"].push_back(fv.run_init_s * 1e9);
        std::printf("boot %d of %d done\n", i + 1, boots);
    }
    std::printf("\nDebian's generic kernel: dom0 on real Xen 4.17 vs PV domU on Virtue, median of %d boots each\n", boots);
    std::printf("%-26s %16s %16s %8s\n", "figure", "Xen", "Virtue", "V/X");
    for (const char* k : {"qemu_start_to_run_init", "getppid", "fork_exec_wait", "evtchn_round_trip", "privcmd_null_hypercall",
                          "hypervisor_footprint"}) {
        const bool memory = std::string(k) == "hypervisor_footprint";
        const bool hx = xen.count(k) != 0, hv = virtue.count(k) != 0;
        auto show_value = [memory](bool has, const std::vector<double>& v, const std::string& why) -> std::string {
            if (!has) return "(" + (why.empty() ? std::string("not measured") : why) + ")";
            char buf[64];
            const double m = median(v);
            if (memory) std::snprintf(buf, sizeof buf, "%.1f MiB", m / 1024);
            else if (m >= 1e9) std::snprintf(buf, sizeof buf, "%.2f s", m / 1e9);
            else if (m >= 1e6) std::snprintf(buf, sizeof buf, "%.2f ms", m / 1e6);
            else std::snprintf(buf, sizeof buf, "%.1f us", m / 1e3);
            return buf;
        };
        const std::string sx = show_value(hx, hx ? xen[k] : std::vector<double>{}, why_xen[k]);
        const std::string sv = show_value(hv, hv ? virtue[k] : std::vector<double>{}, why_virtue[k]);
        if (hx && hv) std::printf("%-26s %16s %16s %8.2f\n", k, sx.c_str(), sv.c_str(), median(virtue[k]) / median(xen[k]));
        else std::printf("%-26s %16s %16s\n%28s%s\n", k, hx ? sx.c_str() : "-", hv ? sv.c_str() : "-", "",
                         (!hx ? "Xen: " + sx : "Virtue: " + sv).c_str());
    }
    if (!virtue["boot_modules_kept"].empty())
        std::printf("(Virtue also keeps its boot modules, %.1f MiB here, to build a guest again when it reboots;\n"
                    " Xen frees its dom0's kernel and initrd once dom0 is built.)\n",
                    median(virtue["boot_modules_kept"]) / 1024);
    return 0;
}
