// The real-Xen oracle for the PV ABI (docs/pv-oracle.md):
// boots a PV kernel as dom0 on Debian's Xen 4.17 in the same QEMU as
// Virtue's tests (-cpu max,-smap) and reads back the report of the PV test
// kernel (pv_report.hpp).
#pragma once

#include <string>
#include <vector>

#include "pv_report.hpp"
#include "qemu_runner.hpp"

namespace virtue::test {

inline constexpr const char* XEN_PACKAGE = "xen-hypervisor-4.17-amd64";
inline constexpr const char* XEN_IMAGE = "/boot/xen-4.17-amd64.gz";
// XEN_IMAGE, or the file VIRTUE_XEN_IMAGE names (another Xen build to compare).
std::string xen_image();
// One vCPU and 64 MiB for dom0, the whole log. No `noreboot`: when dom0 or
// Xen crashes, Xen reboots and QEMU (-no-reboot) ends; when dom0 powers
// off, Xen only halts ("Hardware Dom0 halted: halting machine"), so the
// harness ends QEMU on that line (XEN_DOM0_END).
inline constexpr const char* XEN_CMDLINE =
    "console=com1 com1=115200,8n1 dom0_mem=64M dom0_max_vcpus=2 loglvl=all guest_loglvl=all";
// Xen's line when dom0 ends: "Hardware Dom0 halted: ...", "... crashed: ...",
// "... shutdown: rebooting machine".
inline constexpr const char* XEN_DOM0_END = "Hardware Dom0 ";


struct XenBoot {
    std::string error; // why Xen could not be booted at all (empty: it was)
    BootResult result;
    PvReport report;
};

struct XenBootOptions {
    int timeout_s = 240;
    std::string kernel_cmdline;         // the PV kernel's command line
    std::string extra_xen_cmdline;      // appended to XEN_CMDLINE
    std::vector<std::string> qemu_args; // e.g. {"-icount", "shift=0"}
    std::string initrd;                 // a module after the kernel (empty: none)
    int mem_mib = 256;                  // QEMU's memory
};

// Boots pv_kernel as dom0 on real Xen; error says why when that is
// impossible (Xen package missing, ISO not made).
XenBoot boot_on_xen(const std::string& pv_kernel, const XenBootOptions& options = {});

} // namespace virtue::test
