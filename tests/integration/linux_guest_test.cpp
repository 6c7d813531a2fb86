// Debian's own cloud kernel as a PV guest (tests/linux/linux.mk fetches it
// and builds its busybox initramfs): it boots on 2 vCPUs beside a native
// witness to a shell on hvc0, and the test drives that shell over the
// serial console; every frame comes back after `poweroff -f`. A broken
// configuration of the same kernel is refused by node, the others
// unaffected.
#include <cmath>
#include <vector>

#include "domain_boot.hpp"

using namespace virtue::test;

namespace {

// Boots tests/configs/<config>.dts with the Linux guest's kernel and
// initramfs ("linux", "linux-initrd") and the native test domain ("test"),
// typing `input` on the serial console at once, or each of `steps` once its
// `after` text is on the console.
BootResult boot_linux(const std::string& config, int timeout_s, const std::string& input = "",
                      std::vector<BootSpec::InputStep> steps = {}) {
    BootSpec spec;
    spec.cmdline = "console=com1 com1=115200,8n1 loglvl=info debug-exit=0xf4 shutdown-when-done";
    spec.smp = 2;
    spec.mem_mib = 512;
    spec.timeout_s = timeout_s;
    spec.console_input = input;
    spec.console_steps = std::move(steps);
    const std::string b = build_dir();
    spec.modules = {{b + "/test-configs/" + config + ".dtb", "config"},
                    {"build/linux/vmlinux", "linux"},
                    {"build/linux/initramfs.cpio.gz", "linux-initrd"},
                    {b + "/domains/test-domain.elf", "test"}};
    BootResult r = boot(spec);
    BOOST_TEST_MESSAGE(r.console);
    return r;
}

// The first console line matching `re`, its match and the line's arrival
// time (seconds from QEMU's start); false if there is none.
bool find_line(const BootResult& r, const std::regex& re, std::smatch& m, double& at) {
    const auto lines = r.lines();
    static std::string kept; // (m refers into it)
    for (size_t i = 0; i < lines.size() && i < r.line_times.size(); i++) {
        if (std::regex_search(lines[i], re)) {
            kept = lines[i];
            std::regex_search(kept, m, re);
            at = r.line_times[i];
            return true;
        }
    }
    return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(linux_guest)

BOOST_AUTO_TEST_CASE(debian_cloud_kernel_boots_to_a_shell_on_two_vcpus) {
    // Typed ahead: the guest's tty keeps the lines until the shell reads
    // them. (Bytes typed before the hypervisor set up the UART may be
    // dropped with its FIFO: empty lines first, which the shell skips.)
    const std::string script = std::string(16, '\n') +
        "echo \"UNAME: $(uname -a)\"\n"
        "echo \"CPUS: $(grep -c processor /proc/cpuinfo)\"\n"
        "echo \"XENPV: $(dmesg | grep -c 'Hypervisor detected: Xen PV')\"\n"
        "echo \"HVC: $(dmesg | grep -c 'console .hvc0. enabled')\"\n"
        "echo \"BAD: $(dmesg | grep -c -E 'BUG|Oops|WARNING|Call Trace')\"\n"
        // The balloon's view: all of the domain's memory, none to give back.
        "cd /sys/devices/system/xen_memory/xen_memory0; echo \"BALLOON: $(cat info/current_kb) $(cat target_kb)\"; cd /\n"
        "echo \"CLOCK1 $(cat /proc/uptime)\"\n"
        "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; echo \"FORKS $i\"\n"
        // 64 MiB through a tmpfs file: written with the checksum of what
        // went in, read back with dd and checked.
        "dd if=/dev/urandom of=/tmp/r bs=1M count=1 2>/dev/null; "
        "w=$(for i in $(seq 64); do cat /tmp/r; done | tee /tmp/a | md5sum | cut -c1-32); "
        "echo \"DATA $(wc -c < /tmp/a) $w $(dd if=/tmp/a bs=1M 2>/dev/null | md5sum | cut -c1-32)\"; rm /tmp/a\n"
        "echo \"CLOCK2 $(cat /proc/uptime)\"\n"
        "echo \"BAD-AT-END: $(dmesg | grep -c -E 'BUG|Oops|WARNING|Call Trace')\"\n"
        "poweroff -f\n";
    BootResult r = boot_linux("linux_guest", 240, script);
    require_clean_end(r);
    std::smatch m;
    // (The tty echoes typed-ahead input as it arrives, so an answer may
    // follow echoed characters on its line: answers are found anywhere in
    // the guest's lines; the echoed commands never carry them.)
    auto answered = [&](const std::string& re) {
        return std::regex_search(r.console, m, std::regex(R"(\(linux\) .*)" + re));
    };
    BOOST_TEST(answered(R"(UNAME: Linux \S+ 6\.1\.\d+-\d+-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian)"));
    BOOST_TEST(answered(R"(CPUS: 2\b)"));
    BOOST_TEST(answered(R"(XENPV: 1\b)"));
    BOOST_TEST(answered(R"(HVC: 1\b)"));
    BOOST_TEST(answered(R"(BAD: 0\b)"));
    BOOST_TEST(answered(R"(BAD-AT-END: 0\b)")); // (after the work below too)
    BOOST_TEST(answered(R"(FORKS 1000\b)"));
    BOOST_REQUIRE(answered(R"(BALLOON: (\d+) (\d+))"));
    BOOST_TEST(m[1].str() == m[2].str()); // current = target
    BOOST_TEST(m[1].str() == "262144");   // its 256 MiB, in KiB
    BOOST_REQUIRE(answered(R"(DATA (\d+) ([0-9a-f]{32}) ([0-9a-f]{32}))"));
    BOOST_TEST(m[1].str() == "67108864");
    BOOST_TEST(m[2].str() == m[3].str());
    // The guest's clock against the host's, over the work in between.
    std::smatch c1, c2;
    double t1 = 0, t2 = 0;
    const bool seen1 = find_line(r, std::regex(R"(^\(linux\) .*CLOCK1 ([0-9.]+) )"), c1, t1);
    const double g1 = seen1 ? std::stod(c1[1]) : 0;
    const bool seen2 = find_line(r, std::regex(R"(^\(linux\) .*CLOCK2 ([0-9.]+) )"), c2, t2);
    const double g2 = seen2 ? std::stod(c2[1]) : 0;
    BOOST_REQUIRE(seen1 && seen2);
    BOOST_TEST_MESSAGE("guest clock advanced " << g2 - g1 << " s while the host's advanced " << t2 - t1 << " s");
    BOOST_TEST(t2 - t1 > 5.0); // (long enough for a 1% comparison through the console's latency)
    BOOST_TEST(std::abs((g2 - g1) / (t2 - t1) - 1.0) < 0.01);
    BOOST_TEST(shut_down(r, "linux", "poweroff", 0));
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 2);
}

// `reboot -f` ends the domain with Xen's reboot reason, and it is built
// again from its boot configuration (as Xen's on_reboot = "restart"): the
// kernel boots again to the shell, which then powers it off; every frame
// of both lives comes back.
BOOST_AUTO_TEST_CASE(reboot_builds_the_guest_again_from_its_configuration) {
    BootResult r = boot_linux("linux_guest", 240, "",
                              {{"virtue-guest: init ready", "\n\nreboot -f\n"},
                               {"virtue-guest: init ready", "\n\necho \"AGAIN: $(uname -r)\"\npoweroff -f\n"}});
    require_clean_end(r);
    BOOST_TEST(shut_down(r, "linux", "reboot", 1));
    BOOST_TEST(r.contains("/domains/linux: domain 'linux' rebooted: built again from its boot configuration"));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(AGAIN: 6\.1\.\d+-\d+-cloud-amd64)")));
    BOOST_TEST(shut_down(r, "linux", "poweroff", 0));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 3);
}

// The same kernel with its initrd module missing, and with memory too
// small for the kernel itself: each domain is refused by node with the
// reason, and the native witness runs to its end.
BOOST_AUTO_TEST_CASE(broken_linux_configurations_are_refused_and_others_run) {
    BootResult r = boot_linux("linux_broken", 120);
    require_clean_end(r);
    BOOST_TEST(r.contains("/domains/no-initrd: domain not started: ramdisk module not found"));
    BOOST_TEST(std::regex_search(r.console, std::regex(R"(/domains/too-small: domain 'too-small' not started: PV layout of 32 MiB with its initrd: memory too small for the kernel image)")));
    BOOST_TEST(!r.contains("(no-initrd)"));
    BOOST_TEST(!r.contains("(too-small)"));
    BOOST_TEST(checks_passed(r, "witness", "errors"));
    BOOST_TEST(ended(r, "witness").status == 0);
    check_reclaimed(r, 1);
}

BOOST_AUTO_TEST_SUITE_END()
