// Command-line tokenizer and option dispatch (syntax in cmdline.hpp).
#include "core/cmdline.hpp"

#include "lib/string.hpp"

// Provided by the linker around the `virtue_params` section. Not weak: ld
// defines start/stop symbols only after it relaxes GOT loads, so a weak
// reference fails to link. The placeholder entry below guarantees the
// section (and so the symbols) exists even in an image without options.
extern "C" {
extern const virtue::ParamDesc __start_virtue_params[] __attribute__((visibility("hidden")));
extern const virtue::ParamDesc __stop_virtue_params[] __attribute__((visibility("hidden")));
}
VIRTUE_PARAM_ENTRY_(nullptr, ::virtue::ParamKind::Boolean, nullptr, 0, nullptr);

namespace virtue {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

char fold(char c) { return c == '_' ? '-' : c; }

// Name comparison with '-' == '_'.
bool names_equal(const char* a, const char* b) {
    for (;; a++, b++) {
        if (fold(*a) != fold(*b)) return false;
        if (*a == '\0') return true;
    }
}

const ParamDesc* find(const ParamDesc* begin, const ParamDesc* end, const char* name) {
    if (begin == nullptr || end == nullptr) return nullptr;
    for (const ParamDesc* p = begin; p < end; p++) {
        // Entries without a name (the section placeholder) match nothing.
        if (p->name != nullptr && names_equal(p->name, name)) return p;
    }
    return nullptr;
}

void warn(WarningSink& w, CmdlineWarningKind kind, const char* option, const char* value = "") {
    w.warn(CmdlineWarning{kind, option, value});
}

uint64_t uint_max_for(size_t size) {
    return size >= 8 ? UINT64_MAX : (uint64_t{1} << (8 * size)) - 1;
}

// Stores v in an unsigned variable of `size` bytes (v already fits).
void store_uint(void* var, size_t size, uint64_t v) {
    uint8_t u8 = static_cast<uint8_t>(v);
    uint16_t u16 = static_cast<uint16_t>(v);
    uint32_t u32 = static_cast<uint32_t>(v);
    switch (size) {
    case 1: memcpy(var, &u8, 1); break;
    case 2: memcpy(var, &u16, 2); break;
    case 4: memcpy(var, &u32, 4); break;
    case 8: memcpy(var, &v, 8); break;
    default: break; // rejected before we get here
    }
}

void apply(const ParamDesc& d, const char* option, const char* value, bool has_value,
           bool negated, WarningSink& w) {
    switch (d.kind) {
    case ParamKind::Boolean: {
        bool v = true;
        if (has_value) {
            Result<bool> r = parse_bool_value(value);
            if (!r) return warn(w, CmdlineWarningKind::BadValue, option, value);
            v = *r;
        }
        *static_cast<bool*>(d.var) = negated ? !v : v;
        return;
    }
    case ParamKind::Uint: {
        if (negated) return warn(w, CmdlineWarningKind::NotBoolean, option);
        bool size_ok = d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8;
        Result<uint64_t> r = parse_uint_value(value, uint_max_for(d.size));
        if (!has_value || !size_ok || !r) {
            return warn(w, CmdlineWarningKind::BadValue, option, value);
        }
        store_uint(d.var, d.size, *r);
        return;
    }
    case ParamKind::String: {
        if (negated) return warn(w, CmdlineWarningKind::NotBoolean, option);
        size_t len = strlen(value);
        if (len >= d.size) return warn(w, CmdlineWarningKind::ValueTooLong, option, value);
        memcpy(d.var, value, len + 1);
        return;
    }
    case ParamKind::Custom: {
        if (negated && has_value) return warn(w, CmdlineWarningKind::BadValue, option, value);
        const char* arg = negated ? "no" : value;
        if (d.fn == nullptr || !d.fn(arg, w).ok()) {
            warn(w, CmdlineWarningKind::BadValue, option, arg);
        }
        return;
    }
    }
}

bool has_no_prefix(const char* name) {
    return name[0] == 'n' && name[1] == 'o' && fold(name[2]) == '-';
}

// One token, quotes already removed; `tok` is scratch we may cut up.
void handle_token(char* tok, const ParamDesc* begin, const ParamDesc* end, WarningSink& w) {
    const char* value = "";
    bool has_value = false;
    if (char* eq = strchr(tok, '=')) {
        *eq = '\0';
        value = eq + 1;
        has_value = true;
    }
    // An option literally named "no-..." wins over the negation of "...".
    bool negated = false;
    const ParamDesc* d = find(begin, end, tok);
    if (d == nullptr && has_no_prefix(tok)) {
        d = find(begin, end, tok + 3);
        negated = d != nullptr;
    }
    if (d == nullptr) return warn(w, CmdlineWarningKind::UnknownOption, tok);
    apply(*d, tok, value, has_value, negated, w);
}

// How much of an over-long token a warning shows.
constexpr size_t SHOWN_PREFIX = 32;

} // namespace

void parse_cmdline(const char* cmdline, const ParamDesc* begin, const ParamDesc* end,
                   WarningSink& w) {
    if (cmdline == nullptr) return;
    const char* p = cmdline;
    char tok[CMDLINE_TOKEN_MAX];
    for (;;) {
        while (is_space(*p)) p++;
        if (*p == '\0') return;

        // Copy one token, dropping quotes; quoted whitespace belongs to it.
        size_t len = 0;
        bool quoted = false;
        bool too_long = false;
        for (; *p != '\0' && (quoted || !is_space(*p)); p++) {
            if (*p == '"') {
                quoted = !quoted;
            } else if (len < sizeof tok - 1) {
                tok[len++] = *p;
            } else {
                too_long = true;
            }
        }
        tok[len] = '\0';

        if (quoted) {
            warn(w, CmdlineWarningKind::UnterminatedQuote, tok);
        } else if (too_long) {
            tok[SHOWN_PREFIX] = '\0';
            warn(w, CmdlineWarningKind::TokenTooLong, tok);
        } else {
            handle_token(tok, begin, end, w);
        }
    }
}

void parse_cmdline_registered(const char* cmdline, WarningSink& warnings) {
    parse_cmdline(cmdline, __start_virtue_params, __stop_virtue_params, warnings);
}

Result<bool> parse_bool_value(const char* s) {
    static constexpr const char* TRUE_WORDS[] = {"1", "yes", "true", "on", "enable"};
    static constexpr const char* FALSE_WORDS[] = {"0", "no", "false", "off", "disable"};
    if (s == nullptr) return Err::InvalidArgument;
    for (const char* t : TRUE_WORDS) {
        if (strcmp(s, t) == 0) return true;
    }
    for (const char* f : FALSE_WORDS) {
        if (strcmp(s, f) == 0) return false;
    }
    return Err::InvalidArgument;
}

Result<uint64_t> parse_uint_value(const char* s, uint64_t max) {
    if (s == nullptr) return Err::InvalidArgument;
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0') return Err::InvalidArgument;
    uint64_t v = 0;
    bool overflow = false;
    for (; *s != '\0'; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9') {
            d = unsigned(*s - '0');
        } else if (base == 16 && *s >= 'a' && *s <= 'f') {
            d = unsigned(*s - 'a' + 10);
        } else if (base == 16 && *s >= 'A' && *s <= 'F') {
            d = unsigned(*s - 'A' + 10);
        } else {
            return Err::InvalidArgument;
        }
        // Keep scanning after an overflow so junk is still reported as such.
        if (v > (UINT64_MAX - d) / base) overflow = true;
        if (!overflow) v = v * base + d;
    }
    if (overflow || v > max) return Err::Range;
    return v;
}

namespace {

// Warning texts; %o is the option, %v the value.
const char* warning_pattern(CmdlineWarningKind k) {
    switch (k) {
    case CmdlineWarningKind::UnknownOption: return "unknown option '%o' ignored";
    case CmdlineWarningKind::BadValue: return "bad value '%v' for option '%o'; keeping default";
    case CmdlineWarningKind::NotBoolean: return "'no-' prefix on non-boolean option '%o' ignored";
    case CmdlineWarningKind::UnterminatedQuote: return "unterminated quote in '%o' ignored";
    case CmdlineWarningKind::TokenTooLong: return "over-long option '%o...' ignored";
    case CmdlineWarningKind::ValueTooLong:
        return "value '%v' too long for option '%o'; keeping default";
    case CmdlineWarningKind::UnknownEntry: return "unknown entry '%v' in option '%o' ignored";
    case CmdlineWarningKind::UnsupportedEntry:
        return "'%v' in option '%o' is not supported; ignored";
    }
    return "bad option '%o'";
}

} // namespace

size_t format_cmdline_warning(const CmdlineWarning& w, char* buf, size_t size) {
    if (buf == nullptr || size == 0) return 0;
    const char* opt = w.option != nullptr ? w.option : "";
    const char* val = w.value != nullptr ? w.value : "";
    size_t len = 0;
    for (const char* p = warning_pattern(w.kind); *p != '\0'; p++) {
        char one[2] = {*p, '\0'};
        const char* piece = one;
        if (p[0] == '%' && p[1] == 'o') {
            piece = opt;
            p++;
        } else if (p[0] == '%' && p[1] == 'v') {
            piece = val;
            p++;
        }
        for (; *piece != '\0' && len + 1 < size; piece++) buf[len++] = *piece;
    }
    buf[len] = '\0';
    return len;
}

} // namespace virtue
