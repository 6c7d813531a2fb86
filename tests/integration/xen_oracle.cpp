#include "xen_oracle.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
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

std::vector<std::string> PvReport::failed() const {
    std::vector<std::string> out;
    for (auto& c : checks)
        if (!c.passed) out.push_back(c.name + ": " + c.detail);
    return out;
}

std::vector<std::string> PvReport::passed() const {
    std::vector<std::string> out;
    for (auto& c : checks)
        if (c.passed) out.push_back(c.name);
    return out;
}

PvReport parse_pv_report(const std::string& console) {
    BootResult text;
    text.console = console;
    static const std::regex prefix(R"(^\([^)]*\) )");
    static const std::regex check(R"(^(PASS|FAIL) ([a-z0-9_]+)(: (.*))?$)");
    static const std::regex info(R"(^INFO (.*)$)");
    static const std::regex summary(R"(^SUMMARY (\d+) checks, (\d+) failed$)");
    PvReport r;
    for (std::string line : text.lines()) {
        if (line.rfind("(XEN)", 0) == 0) continue;
        line = std::regex_replace(line, prefix, "", std::regex_constants::format_first_only);
        std::smatch m;
        if (std::regex_match(line, m, check)) {
            r.checks.push_back({m[2], m[1] == "PASS", m[4]});
        } else if (std::regex_match(line, m, info)) {
            r.info.push_back(m[1]);
        } else if (std::regex_match(line, m, summary)) {
            r.has_summary = true;
            r.summary_total = static_cast<unsigned>(std::stoul(m[1]));
            r.summary_failed = static_cast<unsigned>(std::stoul(m[2]));
        } else {
            continue;
        }
        r.lines.push_back(line);
    }
    return r;
}

XenBoot boot_on_xen(const std::string& pv_kernel, int timeout_s) {
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
                      shell_quote(XEN_CMDLINE) + " " + shell_quote(pv_kernel);
    if (std::system(cmd.c_str()) != 0) {
        fs::remove_all(dir);
        x.error = "could not make the Xen ISO: " + cmd;
        return x;
    }
    BootSpec spec;
    spec.iso = iso;
    spec.smp = 1;
    spec.mem_mib = 256;
    spec.timeout_s = timeout_s;
    spec.stop_after = XEN_DOM0_END;
    spec.stop_grace_s = 0.5; // the rest of Xen's line
    x.result = boot(spec);
    fs::remove_all(dir);
    x.report = parse_pv_report(x.result.console);
    return x;
}

} // namespace virtue::test
