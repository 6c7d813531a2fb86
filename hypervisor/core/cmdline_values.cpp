// Value parsers for com1=, loglvl= and console= (grammar in the header).
#include "core/cmdline_values.hpp"

#include "lib/string.hpp"

namespace virtue {
namespace {

// A NUL-terminated copy of one list field, small enough for the stack.
struct Field {
    char text[32];
    bool empty() const { return text[0] == '\0'; }
};

// Copies the text up to `sep` (or the end) into f and advances p past the
// separator; `more` says whether there was one. False if the field does not
// fit.
bool take_field(const char*& p, char sep, Field& f, bool& more) {
    size_t n = 0;
    for (; *p != '\0' && *p != sep; p++) {
        if (n + 1 >= sizeof f.text) return false;
        f.text[n++] = *p;
    }
    f.text[n] = '\0';
    more = *p != '\0';
    if (more) p++;
    return true;
}

Status parse_baud_field(const char* text, ComConfig& c) {
    const char* p = text;
    Field baud, base;
    bool has_base, unused;
    if (!take_field(p, '/', baud, has_base)) return Err::InvalidArgument;
    if (!take_field(p, '\0', base, unused)) return Err::InvalidArgument;

    if (strcmp(baud.text, "auto") == 0) {
        c.baud_auto = true;
        c.baud = 0;
    } else if (!baud.empty()) {
        TRY_ASSIGN(uint64_t b, parse_uint_value(baud.text, UINT32_MAX));
        if (b == 0) return Err::InvalidArgument;
        c.baud_auto = false;
        c.baud = static_cast<uint32_t>(b);
    }
    if (has_base) {
        TRY_ASSIGN(uint64_t bb, parse_uint_value(base.text, UINT32_MAX / 16));
        if (bb == 0) return Err::InvalidArgument;
        c.clock_hz = static_cast<uint32_t>(bb * 16);
    }
    return Status::success();
}

Status parse_dps_field(const char* t, ComConfig& c) {
    if (strlen(t) != 3) return Err::InvalidArgument;
    if (t[0] < '5' || t[0] > '8') return Err::InvalidArgument;
    if (strchr("noems", t[1]) == nullptr) return Err::InvalidArgument;
    if (t[2] != '1' && t[2] != '2') return Err::InvalidArgument;
    c.data_bits = static_cast<uint8_t>(t[0] - '0');
    c.parity = t[1];
    c.stop_bits = static_cast<uint8_t>(t[2] - '0');
    return Status::success();
}

} // namespace

Status parse_com_spec(const char* value, ComConfig& out) {
    if (value == nullptr) return Err::InvalidArgument;
    ComConfig c{};
    Field f[4];
    const char* p = value;
    size_t n = 0;
    for (bool more = true; more; n++) {
        if (n == 4) return Err::NotSupported; // Xen's PCI bdf fields
        if (!take_field(p, ',', f[n], more)) return Err::InvalidArgument;
    }

    TRY(parse_baud_field(f[0].text, c));
    if (n > 1 && !f[1].empty()) TRY(parse_dps_field(f[1].text, c));
    if (n > 2 && !f[2].empty()) {
        if (strcmp(f[2].text, "pci") == 0 || strcmp(f[2].text, "amt") == 0) {
            return Err::NotSupported;
        }
        TRY_ASSIGN(uint64_t io, parse_uint_value(f[2].text, 0xffff));
        if (io == 0) return Err::InvalidArgument;
        c.io_base = static_cast<uint16_t>(io);
    }
    if (n > 3 && !f[3].empty()) {
        TRY_ASSIGN(uint64_t irq, parse_uint_value(f[3].text, 15));
        c.irq = static_cast<uint8_t>(irq);
    }

    if (!c.baud_auto) {
        // The UART divides clock/16 by a 16-bit divisor.
        uint64_t step = uint64_t{c.baud} * 16;
        if (step > c.clock_hz || c.clock_hz / step > 0xffff) return Err::Range;
    }
    out = c;
    return Status::success();
}

Result<LogLevel> parse_log_level_name(const char* s) {
    struct Name {
        const char* text;
        LogLevel level;
    };
    static constexpr Name NAMES[] = {
        {"none", LogLevel::None},   {"error", LogLevel::Error}, {"warning", LogLevel::Warning},
        {"info", LogLevel::Info},   {"debug", LogLevel::Debug}, {"all", LogLevel::All},
    };
    if (s == nullptr) return Err::InvalidArgument;
    for (const Name& n : NAMES) {
        if (strcmp(s, n.text) == 0) return n.level;
    }
    return Err::InvalidArgument;
}

Status parse_loglvl(const char* value, LogLevels& out) {
    if (value == nullptr) return Err::InvalidArgument;
    const char* p = value;
    Field first, second;
    bool has_second, unused;
    if (!take_field(p, '/', first, has_second)) return Err::InvalidArgument;
    if (!take_field(p, '\0', second, unused)) return Err::InvalidArgument;

    TRY_ASSIGN(LogLevel lo, parse_log_level_name(first.text));
    LogLevel hi = lo;
    if (has_second) {
        TRY_ASSIGN(LogLevel h, parse_log_level_name(second.text));
        if (h > lo) hi = h;
    }
    out = LogLevels{lo, hi};
    return Status::success();
}

namespace {

struct ConsoleName {
    const char* text;
    ConsoleKind kind;
};
constexpr ConsoleName CONSOLE_NAMES[] = {
    {"com1", ConsoleKind::Com1}, {"com2", ConsoleKind::Com2}, {"vga", ConsoleKind::Vga},
    {"dbgp", ConsoleKind::Dbgp}, {"ehci", ConsoleKind::Ehci}, {"xhci", ConsoleKind::Xhci},
    {"none", ConsoleKind::None},
};

} // namespace

bool console_supported(ConsoleKind k) {
    return k == ConsoleKind::Com1 || k == ConsoleKind::Com2 || k == ConsoleKind::None;
}

Status parse_console_list(const char* value, ConsoleSelection& out, WarningSink& warnings) {
    if (value == nullptr) return Err::InvalidArgument;
    ConsoleSelection sel;
    bool any_known = false;
    const char* p = value;
    while (*p != '\0') {
        Field f;
        const char* start = p;
        bool unused;
        if (!take_field(p, ',', f, unused)) {
            // Longer than any console name: show its start, skip the rest.
            f.text[sizeof f.text - 1] = '\0';
            memcpy(f.text, start, sizeof f.text - 1);
            warnings.warn(CmdlineWarning{CmdlineWarningKind::UnknownEntry, "console", f.text});
            while (*p != '\0' && *p != ',') p++;
            if (*p == ',') p++;
            continue;
        }
        if (f.empty()) continue; // "com1,,vga"
        const ConsoleName* hit = nullptr;
        for (const ConsoleName& c : CONSOLE_NAMES) {
            if (strcmp(f.text, c.text) == 0) hit = &c;
        }
        if (hit == nullptr) {
            warnings.warn(CmdlineWarning{CmdlineWarningKind::UnknownEntry, "console", f.text});
            continue;
        }
        if (!console_supported(hit->kind)) {
            warnings.warn(CmdlineWarning{CmdlineWarningKind::UnsupportedEntry, "console", f.text});
        }
        sel.mask |= uint32_t{1} << static_cast<unsigned>(hit->kind);
        any_known = true;
    }
    if (!any_known) return Err::InvalidArgument;
    out = sel;
    return Status::success();
}

} // namespace virtue
