#include "checks.hpp"

#include "console.hpp"

namespace pv {

void Checks::expect(const char* name, bool ok, const char* detail_fmt, ...) {
    total_++;
    if (ok) {
        print("PASS %s\n", name);
        return;
    }
    failed_++;
    char detail[512];
    va_list ap;
    va_start(ap, detail_fmt);
    vformat(detail, sizeof detail, detail_fmt, ap);
    va_end(ap);
    print("FAIL %s: %s\n", name, detail);
}

void Checks::expect_eq(const char* name, int64_t got, int64_t expected) {
    expect(name, got == expected, "got %ld, expected %ld", got, expected);
}

void Checks::info(const char* name, const char* fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vformat(text, sizeof text, fmt, ap);
    va_end(ap);
    print("INFO %s: %s\n", name, text);
}

void Checks::summary() const { print("SUMMARY %u checks, %u failed\n", total_, failed_); }

} // namespace pv
