#include "xen_oracle.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace virtue::test {
namespace {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

} // namespace

std::string xen_image() {
    const char* v = std::getenv("VIRTUE_XEN_IMAGE");
    return v && *v ? v : XEN_IMAGE;
}

XenBoot boot_on_xen(const std::string& pv_kernel, const XenBootOptions& options) {
    XenBoot x;
    const std::string xen = xen_image();
    if (access(xen.c_str(), R_OK) != 0) {
        x.error = "real Xen is not installed: no " + xen + " (install Debian's " + XEN_PACKAGE +
                  ", e.g. `make deps` as root)";
        return x;
    }
    if (access(pv_kernel.c_str(), R_OK) != 0) {
        x.error = "no PV test kernel at " + pv_kernel + " (make pv-kernel)";
        return x;
    }
    char tmpl[] = "/tmp/virtue-xen-XXXXXX";
    if (!mkdtemp(tmpl)) {
        x.error = "mkdtemp failed";
        return x;
    }
    fs::path dir(tmpl);
    fs::path iso = dir / "xen-pv.iso";
    std::string cmd = "sh tests/pv/xen-iso.sh " + shell_quote(iso) + " " + shell_quote(xen) + " " +
                      shell_quote(std::string(XEN_CMDLINE) + " " + options.extra_xen_cmdline) + " " + shell_quote(pv_kernel) + " " +
                      shell_quote(options.kernel_cmdline) + (options.initrd.empty() ? "" : " " + shell_quote(options.initrd));
    if (std::system(cmd.c_str()) != 0) {
        fs::remove_all(dir);
        x.error = "could not make the Xen ISO: " + cmd;
        return x;
    }
    BootSpec spec;
    spec.iso = iso;
    spec.smp = 2; // dom0 gets two vCPUs: the PV test kernel brings up the second
    spec.mem_mib = options.mem_mib;
    spec.timeout_s = options.timeout_s;
    spec.qemu_args = options.qemu_args;
    spec.stop_after = XEN_DOM0_END;
    spec.stop_grace_s = 0.5; // the rest of Xen's line
    x.result = boot(spec);
    fs::remove_all(dir);
    x.report = parse_pv_report(x.result.console);
    return x;
}

} // namespace virtue::test
