#include "lib/format.hpp"

#include <stdint.h>

namespace virtue {
namespace {

class Out {
  public:
    Out(char* buf, size_t size) : buf_(buf), size_(size) {}
    void put(char c) {
        if (size_ && len_ < size_ - 1) buf_[len_] = c;
        len_++;
    }
    void pad(char c, int n) {
        while (n-- > 0) put(c);
    }
    size_t finish() {
        if (size_) buf_[len_ < size_ ? len_ : size_ - 1] = '\0';
        return len_;
    }

  private:
    char* buf_;
    size_t size_;
    size_t len_ = 0;
};

struct Spec {
    bool left = false;
    bool zero = false;
    int width = 0;
    int precision = -1;
};

void emit_number(Out& out, uint64_t v, bool negative, unsigned base, bool upper,
                 const Spec& spec, const char* prefix) {
    char digits[24];
    int n = 0;
    const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits[n++] = set[v % base];
        v /= base;
    } while (v);
    int prefix_len = 0;
    while (prefix[prefix_len]) prefix_len++;
    int total = n + (negative ? 1 : 0) + prefix_len;
    int padding = spec.width > total ? spec.width - total : 0;
    if (!spec.left && !spec.zero) out.pad(' ', padding);
    if (negative) out.put('-');
    for (int i = 0; i < prefix_len; i++) out.put(prefix[i]);
    if (!spec.left && spec.zero) out.pad('0', padding);
    while (n) out.put(digits[--n]);
    if (spec.left) out.pad(' ', padding);
}

} // namespace

size_t vformat(char* buf, size_t size, const char* fmt, va_list ap) {
    Out out(buf, size);
    for (const char* p = fmt; *p; p++) {
        if (*p != '%') {
            out.put(*p);
            continue;
        }
        p++;
        Spec spec;
        for (;; p++) {
            if (*p == '-') spec.left = true;
            else if (*p == '0') spec.zero = true;
            else break;
        }
        if (*p == '*') {
            spec.width = va_arg(ap, int);
            p++;
        } else {
            while (*p >= '0' && *p <= '9' && spec.width < 1000) spec.width = spec.width * 10 + (*p++ - '0');
        }
        if (*p == '.') {
            p++;
            spec.precision = 0;
            if (*p == '*') {
                spec.precision = va_arg(ap, int);
                p++;
            } else {
                while (*p >= '0' && *p <= '9' && spec.precision < 100000)
                    spec.precision = spec.precision * 10 + (*p++ - '0');
            }
        }
        int longness = 0; // -2 hh, -1 h, 0 int, 1 long, 2 long long / size_t
        for (;; p++) {
            if (*p == 'l') longness = longness < 0 ? 1 : longness + 1;
            else if (*p == 'h') longness = longness > 0 ? 0 : longness - 1;
            else if (*p == 'z') longness = 2;
            else break;
        }
        auto unsigned_arg = [&]() -> uint64_t {
            if (longness >= 1) return va_arg(ap, unsigned long);
            unsigned v = va_arg(ap, unsigned);
            if (longness == -1) return static_cast<uint16_t>(v);
            if (longness == -2) return static_cast<uint8_t>(v);
            return v;
        };
        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v;
            if (longness >= 1) v = va_arg(ap, long);
            else v = va_arg(ap, int);
            if (longness == -1) v = static_cast<int16_t>(v);
            if (longness == -2) v = static_cast<int8_t>(v);
            uint64_t mag = v < 0 ? uint64_t(0) - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
            emit_number(out, mag, v < 0, 10, false, spec, "");
            break;
        }
        case 'u': emit_number(out, unsigned_arg(), false, 10, false, spec, ""); break;
        case 'x': emit_number(out, unsigned_arg(), false, 16, false, spec, ""); break;
        case 'X': emit_number(out, unsigned_arg(), false, 16, true, spec, ""); break;
        case 'o': emit_number(out, unsigned_arg(), false, 8, false, spec, ""); break;
        case 'p': {
            auto v = reinterpret_cast<uintptr_t>(va_arg(ap, void*));
            Spec s = spec;
            if (!s.width) {
                s.width = 18;
                s.zero = true;
            }
            emit_number(out, v, false, 16, false, s, "0x");
            break;
        }
        case 'c': {
            int pad = spec.width > 1 ? spec.width - 1 : 0;
            if (!spec.left) out.pad(' ', pad);
            out.put(static_cast<char>(va_arg(ap, int)));
            if (spec.left) out.pad(' ', pad);
            break;
        }
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (!s) s = "(null)";
            int len = 0;
            while (s[len] && (spec.precision < 0 || len < spec.precision)) len++;
            int pad = spec.width > len ? spec.width - len : 0;
            if (!spec.left) out.pad(' ', pad);
            for (int i = 0; i < len; i++) out.put(s[i]);
            if (spec.left) out.pad(' ', pad);
            break;
        }
        case '%': out.put('%'); break;
        case '\0': p--; break; // lone '%' at the end: print nothing more
        default:
            out.put('%');
            out.put(*p);
            break;
        }
    }
    return out.finish();
}

size_t format(char* buf, size_t size, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

} // namespace virtue
