// virtue::vsnprintf / snprintf (see include/virtue/format.hpp). Pure code: the
// host unit tests (tests/unit/sdk_format_test.cpp) compile this file as is.
#include "../include/virtue/format.hpp"

#include <stdint.h>

namespace virtue {
namespace {

// Counts every byte of the output, stores those that fit (leaving room for
// the NUL).
class Out {
  public:
    Out(char* buf, size_t size) : buf_(buf), size_(size) {}
    void put(char c) {
        if (size_ != 0 && len_ < size_ - 1) buf_[len_] = c;
        len_++;
    }
    void pad(char c, long n) {
        for (; n > 0; n--) put(c);
    }
    void put_str(const char* s, size_t n) {
        for (size_t i = 0; i < n; i++) put(s[i]);
    }
    size_t finish() {
        if (size_ != 0) buf_[len_ < size_ ? len_ : size_ - 1] = '\0';
        return len_;
    }

  private:
    char* buf_;
    size_t size_;
    size_t len_ = 0;
};

struct Spec {
    bool left = false;  // '-'
    bool zero = false;  // '0'
    bool plus = false;  // '+'
    bool space = false; // ' '
    bool alt = false;   // '#'
    long width = 0;
    long precision = -1; // -1: none
};

enum class Len { None, Char, Short, Long, LongLong, Size, Max, Ptrdiff };

// sign: "-", "+", " " or ""; prefix: "0x", "0X", "0" or "".
void emit_number(Out& out, uint64_t v, const char* sign, unsigned base, bool upper, const Spec& spec,
                 const char* prefix) {
    char digits[24];
    long n = 0;
    const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    // Precision 0 with value 0 prints no digits at all (C rule).
    if (!(v == 0 && spec.precision == 0)) {
        do {
            digits[n++] = set[v % base];
            v /= base;
        } while (v != 0);
    }
    long sign_len = 0, prefix_len = 0;
    while (sign[sign_len]) sign_len++;
    while (prefix[prefix_len]) prefix_len++;
    // '#' with %o: the leading 0 counts towards the precision's digits.
    long zeros = spec.precision > n ? spec.precision - n : 0;
    if (prefix_len == 1 && zeros > 0) prefix_len = 0, prefix = "";
    long total = sign_len + prefix_len + zeros + n;
    long padding = spec.width > total ? spec.width - total : 0;
    bool zero_pad = spec.zero && !spec.left && spec.precision < 0;
    if (!spec.left && !zero_pad) out.pad(' ', padding);
    out.put_str(sign, static_cast<size_t>(sign_len));
    out.put_str(prefix, static_cast<size_t>(prefix_len));
    if (zero_pad) out.pad('0', padding);
    out.pad('0', zeros);
    while (n > 0) out.put(digits[--n]);
    if (spec.left) out.pad(' ', padding);
}

void emit_text(Out& out, const char* s, size_t n, const Spec& spec) {
    long padding = spec.width > static_cast<long>(n) ? spec.width - static_cast<long>(n) : 0;
    if (!spec.left) out.pad(' ', padding);
    out.put_str(s, n);
    if (spec.left) out.pad(' ', padding);
}

int64_t fetch_signed(va_list& ap, Len len) {
    switch (len) {
    case Len::Char: return static_cast<signed char>(va_arg(ap, int));
    case Len::Short: return static_cast<short>(va_arg(ap, int));
    case Len::Long: return va_arg(ap, long);
    case Len::LongLong: return va_arg(ap, long long);
    case Len::Size: return va_arg(ap, long); // ssize_t
    case Len::Max: return va_arg(ap, long long);
    case Len::Ptrdiff: return va_arg(ap, long);
    case Len::None: break;
    }
    return va_arg(ap, int);
}

uint64_t fetch_unsigned(va_list& ap, Len len) {
    switch (len) {
    case Len::Char: return static_cast<unsigned char>(va_arg(ap, unsigned));
    case Len::Short: return static_cast<unsigned short>(va_arg(ap, unsigned));
    case Len::Long: return va_arg(ap, unsigned long);
    case Len::LongLong: return va_arg(ap, unsigned long long);
    case Len::Size: return va_arg(ap, size_t);
    case Len::Max: return va_arg(ap, unsigned long long);
    case Len::Ptrdiff: return va_arg(ap, unsigned long);
    case Len::None: break;
    }
    return va_arg(ap, unsigned);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads decimal digits, saturating well below LONG_MAX.
long read_number(const char*& p) {
    long v = 0;
    while (is_digit(*p)) {
        if (v < 100000000) v = v * 10 + (*p - '0');
        p++;
    }
    return v;
}

} // namespace

int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap_in) {
    Out out(buf, size);
    va_list ap;
    va_copy(ap, ap_in);
    for (const char* p = fmt; *p;) {
        if (*p != '%') {
            out.put(*p++);
            continue;
        }
        const char* start = p++; // at '%'
        Spec spec;
        for (;; p++) {
            if (*p == '-') spec.left = true;
            else if (*p == '0') spec.zero = true;
            else if (*p == '+') spec.plus = true;
            else if (*p == ' ') spec.space = true;
            else if (*p == '#') spec.alt = true;
            else break;
        }
        if (*p == '*') {
            p++;
            int w = va_arg(ap, int);
            if (w < 0) {
                spec.left = true;
                spec.width = -static_cast<long>(w);
            } else {
                spec.width = w;
            }
        } else {
            spec.width = read_number(p);
        }
        if (*p == '.') {
            p++;
            if (*p == '*') {
                p++;
                int prec = va_arg(ap, int);
                spec.precision = prec < 0 ? -1 : prec;
            } else {
                spec.precision = read_number(p);
            }
        }
        Len len = Len::None;
        if (*p == 'h') {
            p++;
            len = Len::Short;
            if (*p == 'h') p++, len = Len::Char;
        } else if (*p == 'l') {
            p++;
            len = Len::Long;
            if (*p == 'l') p++, len = Len::LongLong;
        } else if (*p == 'z') {
            p++, len = Len::Size;
        } else if (*p == 'j') {
            p++, len = Len::Max;
        } else if (*p == 't') {
            p++, len = Len::Ptrdiff;
        }
        char conv = *p;
        if (conv == '\0') { // "%" at the very end: copy it through
            out.put_str(start, static_cast<size_t>(p - start));
            break;
        }
        p++;
        switch (conv) {
        case 'd':
        case 'i': {
            int64_t v = fetch_signed(ap, len);
            // Negate in unsigned arithmetic so INT64_MIN works.
            uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
            const char* sign = v < 0 ? "-" : spec.plus ? "+" : spec.space ? " " : "";
            emit_number(out, mag, sign, 10, false, spec, "");
            break;
        }
        case 'u': emit_number(out, fetch_unsigned(ap, len), "", 10, false, spec, ""); break;
        case 'o': {
            uint64_t v = fetch_unsigned(ap, len);
            // '#': the output starts with 0 (even "%#.0o" of 0 prints "0").
            emit_number(out, v, "", 8, false, spec, spec.alt && (v != 0 || spec.precision == 0) ? "0" : "");
            break;
        }
        case 'x':
        case 'X': {
            uint64_t v = fetch_unsigned(ap, len);
            const char* prefix = spec.alt && v != 0 ? (conv == 'X' ? "0X" : "0x") : "";
            emit_number(out, v, "", 16, conv == 'X', spec, prefix);
            break;
        }
        case 'p': {
            void* ptr = va_arg(ap, void*);
            if (ptr == nullptr) {
                emit_text(out, "(nil)", 5, spec);
            } else {
                const char* sign = spec.plus ? "+" : spec.space ? " " : "";
                emit_number(out, reinterpret_cast<uintptr_t>(ptr), sign, 16, false, spec, "0x");
            }
            break;
        }
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (s == nullptr) s = "(null)";
            size_t n = 0;
            if (spec.precision >= 0) {
                while (n < static_cast<size_t>(spec.precision) && s[n]) n++;
            } else {
                while (s[n]) n++;
            }
            emit_text(out, s, n, spec);
            break;
        }
        case 'c': {
            char c = static_cast<char>(va_arg(ap, int));
            emit_text(out, &c, 1, spec);
            break;
        }
        case '%': out.put('%'); break;
        default: // unknown conversion: copy the whole specification through
            out.put_str(start, static_cast<size_t>(p - start));
            break;
        }
    }
    va_end(ap);
    size_t n = out.finish();
    return n > 0x7fffffff ? 0x7fffffff : static_cast<int>(n);
}

int snprintf(char* buf, size_t size, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

} // namespace virtue
