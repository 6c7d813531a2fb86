// Boots the hypervisor in QEMU (TCG, headless) and captures its serial console.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace virtue::test {

struct BootSpec {
    std::string cmdline = "console=com1 com1=115200,8n1 loglvl=info debug-exit=0xf4";
    int smp = 1;
    int mem_mib = 256;
    int timeout_s = 60;
    // Stop (kill QEMU) this many seconds after this text appears; empty = never.
    std::string stop_after;
    double stop_grace_s = 0;
    std::vector<std::pair<std::string, std::string>> modules; // file, module cmdline
    std::string console_input; // bytes typed on the serial console (empty: none)
    // Or typed step by step: each step's text is typed once its `after`
    // text has appeared on the console (after where the previous step's
    // did), as a person at the console would.
    struct InputStep {
        std::string after, text;
    };
    std::vector<InputStep> console_steps;
    // A ready-made ISO to boot instead of one made from the hypervisor,
    // cmdline and modules above (e.g. real Xen: tests/integration/xen_oracle.hpp).
    std::string iso;
    // More QEMU options (e.g. -icount for timing in emulated instructions).
    std::vector<std::string> qemu_args;
};

struct BootResult {
    std::string console;
    bool exited = false;  // QEMU ended by itself
    int exit_status = -1; // QEMU's exit status when exited
    bool timed_out = false;
    bool stopped = false; // killed by us after stop_after + grace
    double stop_text_s = -1; // seconds from QEMU's start to stop_after's text (-1: never seen)
    double elapsed_s = 0;    // seconds from QEMU's start to its end
    std::vector<double> line_times; // seconds from QEMU's start to the arrival of each console line's end

    bool contains(const std::string& s) const { return console.find(s) != std::string::npos; }
    std::vector<std::string> lines() const;
};

// isa-debug-exit statuses (hypervisor/core/shutdown.hpp): (value << 1) | 1.
inline constexpr int EXIT_SUCCESS_STATUS = 33;
inline constexpr int EXIT_FAILURE_STATUS = 35;
inline constexpr int EXIT_PANIC_STATUS = 37;

BootResult boot(const BootSpec& spec);

} // namespace virtue::test
