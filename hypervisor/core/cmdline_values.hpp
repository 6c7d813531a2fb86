// Parsers for the structured values of Xen's console options:
//   com1=/com2=   <baud>[/<base-baud>][,DPS[,<io-base>[,<irq>]]]
//   loglvl=       <level>[/<rate-limited level>]   (also guest_loglvl=)
//   console=      com1[,com2,vga,none,...]
// Pure functions: the console code registers the options (custom params)
// and calls these. Each decodes fully before it writes its output, so a
// rejected value leaves the output untouched.
#pragma once

#include <stdint.h>

#include "core/cmdline.hpp"
#include "core/log_level.hpp"
#include "lib/result.hpp"

namespace virtue {

// ---- com1= / com2= ----

inline constexpr uint32_t UART_DEFAULT_CLOCK_HZ = 1843200;
inline constexpr uint8_t COM_IRQ_DEFAULT = 0xff; // the port's standard IRQ

struct ComConfig {
    bool baud_auto = true; // keep the rate the firmware programmed
    uint32_t baud = 0;     // valid when !baud_auto
    uint32_t clock_hz = UART_DEFAULT_CLOCK_HZ;
    uint8_t data_bits = 8; // 5-8
    char parity = 'n';     // n(one) o(dd) e(ven) m(ark) s(pace)
    uint8_t stop_bits = 1; // 1-2
    uint16_t io_base = 0;  // 0: the port's standard base (0x3f8, 0x2f8)
    uint8_t irq = COM_IRQ_DEFAULT; // 0: poll, as in Xen; else ISA IRQ 1-15
};

// Xen's syntax: `<baud>` is decimal or `auto`; `/<base-baud>` is the UART
// clock divided by 16 (as Xen: clock_hz = base-baud * 16); DPS is data bits
// 5-8, parity n/o/e/m/s, stop bits 1/2 (e.g. 8n1); io-base is a number
// (0x hex allowed); irq is 0-15. Any field may be left empty for its
// default (`115200,,0x2f8`), and "" means all defaults. Fields not given
// take the ComConfig defaults, not `out`'s previous values.
//   Err::InvalidArgument  syntax (bad number, bad DPS, zero baud)
//   Err::Range            a number out of range, or a baud rate the clock
//                         cannot produce (divisor 0 or above 0xffff)
//   Err::NotSupported     Xen's pci/amt io-base or the PCI fields after irq
[[nodiscard]] Status parse_com_spec(const char* value, ComConfig& out);

// ---- loglvl= ----

// Messages at or above `threshold` importance are printed; those between
// it and `rate_limited` are printed rate-limited; the rest are dropped.
struct LogLevels {
    LogLevel threshold;
    LogLevel rate_limited; // never below threshold
};

// none | error | warning | info | debug | all.
[[nodiscard]] Result<LogLevel> parse_log_level_name(const char* s);
// `<level>[/<level>]`; a missing or lower second level equals the first
// (as Xen). Err::InvalidArgument for an unknown name.
[[nodiscard]] Status parse_loglvl(const char* value, LogLevels& out);

// ---- console= ----

enum class ConsoleKind : uint8_t { Com1, Com2, Vga, Dbgp, Ehci, Xhci, None, Count };

struct ConsoleSelection {
    uint32_t mask = 0; // bit (1 << ConsoleKind)
    bool has(ConsoleKind k) const { return (mask >> static_cast<unsigned>(k)) & 1; }
};

// Whether Virtue can drive this console (com1, com2, none).
bool console_supported(ConsoleKind k);

// Comma-separated list. An unknown entry is warned and skipped; a known
// but unsupported one (vga, dbgp, ehci, xhci) is warned and still recorded,
// so the caller can tell what was asked for. Err::InvalidArgument (and `out`
// untouched) if no entry is known at all.
[[nodiscard]] Status parse_console_list(const char* value, ConsoleSelection& out,
                                        WarningSink& warnings);

} // namespace virtue
