#include "core/boot_options.hpp"

#include "console/console.hpp"
#include "core/cmdline.hpp"
#include "core/cmdline_values.hpp"
#include "lib/string.hpp"

namespace virtue {
namespace {

constexpr size_t CMDLINE_MAX = 1024;
char g_cmdline[CMDLINE_MAX];
bool g_cmdline_truncated;

// Console options (Xen's names).
ComConfig g_com[2];
LogLevels g_loglvl{LogLevel::Info, LogLevel::Info};
ConsoleSelection g_console;
bool g_console_given;

Status parse_com1(const char* value, WarningSink&) { return parse_com_spec(value, g_com[0]); }
Status parse_com2(const char* value, WarningSink&) { return parse_com_spec(value, g_com[1]); }
Status parse_loglvl_option(const char* value, WarningSink&) { return parse_loglvl(value, g_loglvl); }
Status parse_console_option(const char* value, WarningSink& w) {
    ConsoleSelection sel;
    TRY(parse_console_list(value, sel, w));
    g_console = sel;
    g_console_given = true;
    return Status::success();
}
VIRTUE_CUSTOM_PARAM("com1", parse_com1);
VIRTUE_CUSTOM_PARAM("com2", parse_com2);
VIRTUE_CUSTOM_PARAM("loglvl", parse_loglvl_option);
VIRTUE_CUSTOM_PARAM("console", parse_console_option);

// Warnings arrive before the console is configured: keep their text.
class DeferredWarnings final : public WarningSink {
  public:
    void warn(const CmdlineWarning& w) override {
        if (count_ == MAX) {
            dropped_++;
            return;
        }
        format_cmdline_warning(w, text_[count_++], sizeof text_[0]);
    }
    void add(const char* text) {
        if (count_ == MAX) {
            dropped_++;
            return;
        }
        strncpy_bounded(text_[count_++], text, sizeof text_[0]);
    }
    void print() const {
        for (size_t i = 0; i < count_; i++) log_warn("command line: %s", text_[i]);
        if (dropped_) log_warn("command line: %zu more warnings not shown", dropped_);
    }

  private:
    static void strncpy_bounded(char* dst, const char* src, size_t size) {
        size_t n = strnlen(src, size - 1);
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    static constexpr size_t MAX = 16;
    char text_[MAX][160];
    size_t count_ = 0;
    size_t dropped_ = 0;
};

DeferredWarnings g_warnings;

UartConfig uart_config(const ComConfig& c, uint16_t standard_base) {
    UartConfig u;
    u.io_base = c.io_base ? c.io_base : standard_base;
    u.baud = c.baud_auto ? 0 : c.baud;
    u.clock_hz = c.clock_hz;
    u.data_bits = c.data_bits;
    u.parity = c.parity;
    u.stop_bits = c.stop_bits;
    return u;
}

} // namespace

void apply_boot_options(const BootString& cmdline) {
    if (cmdline.present()) {
        size_t n = cmdline.len;
        if (n >= CMDLINE_MAX) {
            n = CMDLINE_MAX - 1;
            g_cmdline_truncated = true;
        }
        memcpy(g_cmdline, cmdline.ptr, n);
        g_cmdline[n] = '\0';
    }
    // Xen's default baud for com1 when none is given is "auto"; ours is
    // 115200 8n1 so output is readable even if firmware left the UART unset.
    g_com[0].baud_auto = false;
    g_com[0].baud = 115200;
    parse_cmdline_registered(g_cmdline, g_warnings);
    if (g_cmdline_truncated) g_warnings.add("longer than 1023 bytes; the rest was ignored");

    bool use_com2 = g_console_given && g_console.has(ConsoleKind::Com2) && !g_console.has(ConsoleKind::Com1);
    bool enabled = !g_console_given || g_console.has(ConsoleKind::Com1) || g_console.has(ConsoleKind::Com2);
    console_init(use_com2 ? uart_config(g_com[1], 0x2f8) : uart_config(g_com[0], 0x3f8), enabled);
    console_set_level(g_loglvl.threshold);
}

const char* boot_command_line() { return g_cmdline; }

void report_boot_option_warnings() { g_warnings.print(); }

} // namespace virtue
