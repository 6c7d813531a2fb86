// The hypervisor command line: copied from the multiboot2 information,
// parsed once at boot (options are declared where they are used, see
// core/cmdline.hpp), and applied to the console.
#pragma once

#include "boot/multiboot2.hpp"

namespace virtue {

void apply_boot_options(const BootString& cmdline);
const char* boot_command_line();
// Warnings are collected while parsing and printed once the console is set up.
void report_boot_option_warnings();

} // namespace virtue
