// `make pv-oracle`: boots the PV test kernel as dom0 on real Xen 4.17 in
// QEMU and prints its report (PASS/FAIL/INFO lines), the summary and how
// long the boot took. Exit status 0 when every check passed.
// usage: pv-oracle PV-KERNEL.elf [--console]   (--console: all of Xen's log)
#include <cstdio>
#include <cstring>
#include <string>

#include "integration/xen_oracle.hpp"

using namespace virtue::test;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PV-KERNEL.elf [--console]\n", argv[0]);
        return 2;
    }
    std::printf("booting %s as dom0 on %s (QEMU TCG, -cpu max,-smap)...\n", argv[1], xen_image().c_str());
    std::fflush(stdout);
    XenBoot x = boot_on_xen(argv[1]);
    if (!x.error.empty()) {
        std::printf("FAILED: %s\n", x.error.c_str());
        return 1;
    }
    if (argc > 2 && std::strcmp(argv[2], "--console") == 0) std::fputs(x.result.console.c_str(), stdout);
    for (auto& line : x.report.lines) std::printf("  %s\n", line.c_str());
    bool ended = x.result.contains("Hardware Dom0 halted");
    std::printf("%zu checks, %zu failed; summary line %s; dom0 %s; Xen boot to dom0's end %.1f s (QEMU ran %.1f s%s)\n",
                x.report.checks.size(), x.report.failed().size(), x.report.has_summary ? "seen" : "MISSING",
                ended ? "powered off" : "did NOT power off", x.result.stop_text_s, x.result.elapsed_s,
                x.result.timed_out ? ", timed out" : "");
    bool ok = ended && x.report.has_summary && !x.report.checks.empty() && x.report.failed().empty() &&
              x.report.summary_failed == 0;
    return ok ? 0 : 1;
}
