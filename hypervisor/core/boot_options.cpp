#include "core/boot_options.hpp"
#include "console/console.hpp"
#include "lib/string.hpp"
namespace virtue {
namespace { char g_cmdline[1024]; }
void apply_boot_options(const BootString& c) { if (c.present()) memcpy(g_cmdline, c.ptr, c.len < 1023 ? c.len : 1023);
 }
const char* boot_command_line() { return g_cmdline; }
void report_boot_option_warnings() {}
}
