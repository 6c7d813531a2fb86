// Unit tests for the native SDK's formatter, virtue::vsnprintf / snprintf
// (hypercalls/sdk/runtime/format.cpp), checked against the host C library's
// snprintf wherever the two are meant to agree.
#include <boost/test/unit_test.hpp>

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <string>

#include "../../hypercalls/sdk/include/virtue/format.hpp"

namespace {

// Formats with both implementations into generous buffers and compares the
// text and the returned length. A macro, so the compiler checks each format
// string against its arguments (both functions carry the printf attribute).
#define SAME(...)                                                                                   \
    do {                                                                                            \
        char mine_[512], host_[512];                                                                \
        int mine_n_ = virtue::snprintf(mine_, sizeof mine_, __VA_ARGS__);                           \
        int host_n_ = ::snprintf(host_, sizeof host_, __VA_ARGS__);                                 \
        BOOST_TEST(std::string(mine_) == std::string(host_), "format " << #__VA_ARGS__);            \
        BOOST_TEST(mine_n_ == host_n_, "length for " << #__VA_ARGS__);                              \
    } while (0)

// Formats without compile-time checking (for conversions GCC would reject).
std::string unchecked(const char* fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = virtue::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    BOOST_TEST(n == static_cast<int>(strlen(buf)));
    return buf;
}

// For flag combinations C defines but GCC's format check flags as redundant.
#define SAME_REDUNDANT_FLAGS(...)                                                                   \
    do {                                                                                            \
        _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wformat\"") SAME(__VA_ARGS__); \
        _Pragma("GCC diagnostic pop")                                                               \
    } while (0)

} // namespace

BOOST_AUTO_TEST_SUITE(sdk_format)

BOOST_AUTO_TEST_CASE(plain_text) {
    SAME("hello");
    BOOST_TEST(unchecked("").empty());
    SAME("100%% sure");
    SAME("%%%%");
}

BOOST_AUTO_TEST_CASE(signed_integers) {
    SAME("%d", 0);
    SAME("%d", 42);
    SAME("%d", -42);
    SAME("%i", -7);
    SAME("%d", INT_MAX);
    SAME("%d", INT_MIN);
    SAME("%ld", static_cast<long>(INT64_MIN));
    SAME("%ld", static_cast<long>(INT64_MAX));
    SAME("%lld", static_cast<long long>(INT64_MIN));
    SAME("%lli", -1234567890123ll);
    SAME("%zd", static_cast<ssize_t>(-5));
    SAME("%jd", static_cast<intmax_t>(INT64_MIN));
    SAME("%td", static_cast<ptrdiff_t>(-99));
    SAME("%hd", static_cast<short>(-32768));
    SAME("%hhd", static_cast<signed char>(-128));
    SAME("%hhd", 0x1ff); // converted to signed char
    SAME("%hd", 0x18000);
}

BOOST_AUTO_TEST_CASE(unsigned_integers) {
    SAME("%u", 0u);
    SAME("%u", 4000000000u);
    SAME("%lu", UINT64_MAX);
    SAME("%llu", static_cast<unsigned long long>(UINT64_MAX));
    SAME("%zu", static_cast<size_t>(77));
    SAME("%x", 0xdeadbeefu);
    SAME("%X", 0xdeadbeefu);
    SAME("%lx", UINT64_MAX);
    SAME("%llX", 0xABCDEF0123ull);
    SAME("%zx", static_cast<size_t>(0x1000));
    SAME("%hhu", 0x1ffu);
    SAME("%hx", 0x12345u);
    SAME("%o", 8u);
    SAME("%lo", UINT64_MAX);
}

BOOST_AUTO_TEST_CASE(width_and_flags) {
    SAME("[%5d]", 42);
    SAME("[%-5d]", 42);
    SAME("[%05d]", 42);
    SAME("[%05d]", -42);
    SAME_REDUNDANT_FLAGS("[%-05d]", -42); // '-' wins over '0'
    SAME("[%+d]", 42);
    SAME("[%+d]", -42);
    SAME("[% d]", 42);
    SAME_REDUNDANT_FLAGS("[%+ d]", 42); // '+' wins over ' '
    SAME("[%+06d]", 42);
    SAME("[%2d]", 12345); // width smaller than the number
    SAME("[%20ld]", static_cast<long>(INT64_MIN));
    SAME("[%020ld]", static_cast<long>(INT64_MIN));
    SAME("[%08x]", 0x1234u);
    SAME("[%-8x]", 0x1234u);
    SAME("[%#x]", 0x1234u);
    SAME("[%#X]", 0x1234u);
    SAME("[%#x]", 0u);
    SAME("[%#010x]", 0x1234u);
    SAME("[%#o]", 8u);
    SAME("[%#o]", 0u);
    SAME("[%*d]", 6, 42);
    SAME("[%*d]", -6, 42); // negative width: left-justified
    SAME("[%-*d]", 6, 42);
    SAME("[%016lx]", 0xffff82d080000000ul);
}

BOOST_AUTO_TEST_CASE(integer_precision) {
    SAME("[%.3d]", 7);
    SAME("[%.3d]", -7);
    SAME("[%8.3d]", -7);
    SAME("[%-8.3d]", 7);
    SAME_REDUNDANT_FLAGS("[%08.3d]", 7); // precision disables '0'
    SAME("[%.0d]", 0);   // no digits at all
    SAME("[%5.0d]", 0);
    SAME("[%.0x]", 0u);
    SAME("[%.10lu]", 12345ul);
    SAME("[%.*d]", 4, 3);
    SAME("[%.*d]", -1, 3); // negative precision: as if omitted
    SAME("[%#.3o]", 8u);
    SAME("[%#.2o]", 8u);
    SAME("[%#.0o]", 0u);
    SAME("[%#.5x]", 0xabu);
}

BOOST_AUTO_TEST_CASE(strings_and_chars) {
    SAME("%s", "hello");
    SAME("[%s]", "");
    SAME("[%10s]", "hello");
    SAME("[%-10s]", "hello");
    SAME("[%.3s]", "hello");
    SAME("[%10.3s]", "hello");
    SAME("[%-10.3s]", "hello");
    SAME("[%.0s]", "hello");
    SAME("[%.10s]", "hi");
    SAME("[%.*s]", 2, "hello");
    SAME("[%.*s]", -1, "hello");
    SAME("[%*s]", 7, "ab");
    SAME("[%c]", 'a');
    SAME("[%3c]", 'b');
    SAME("[%-3c]", 'c');
    SAME("%s=%d, %s=%x", "a", 1, "b", 0x2bu);
    const char* null_string = nullptr;
    BOOST_TEST(unchecked("[%s]", null_string) == "[(null)]"); // as glibc
    // Precision reads no further than it needs: the bytes need no NUL.
    const char unterminated[3] = {'x', 'y', 'z'};
    SAME("[%.3s]", unterminated);
}

BOOST_AUTO_TEST_CASE(pointers) {
    int object = 0;
    SAME("%p", static_cast<void*>(&object));
    SAME("%p", reinterpret_cast<void*>(0xffff82d080000000ul));
    SAME("%p", reinterpret_cast<void*>(0x1ul));
    SAME("[%20p]", reinterpret_cast<void*>(0x400000ul));
    SAME("[%-20p]", reinterpret_cast<void*>(0x400000ul));
    SAME("%p", static_cast<void*>(nullptr)); // glibc: "(nil)"
    SAME("[%8p]", static_cast<void*>(nullptr));
}

BOOST_AUTO_TEST_CASE(many_values) {
    // A spread of 64-bit values through every integer conversion.
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        uint64_t v = x * 0x2545f4914f6cdd1dull >> (i % 64);
        auto s = static_cast<long>(v);
        SAME("%ld|%lu|%lx|%lX|%lo", s, v, v, v, v);
        SAME("%d|%u|%x|%hd|%hhu", static_cast<int>(v), static_cast<unsigned>(v), static_cast<unsigned>(v),
             static_cast<short>(v), static_cast<unsigned char>(v));
        SAME("[%-21ld|%021ld|%+.19ld|%30lu]", s, s, s, v);
        SAME_REDUNDANT_FLAGS("[% ld|% 30lu]", s, v); // ' ' does nothing for %u
    }
}

BOOST_AUTO_TEST_CASE(truncation) {
    // For every buffer size: NUL-terminated prefix, full length returned,
    // nothing written at or beyond size, same bytes as the C library.
    const char* fmt = "value %d, text %s, hex %#x";
    char expected[128];
    int full = ::snprintf(expected, sizeof expected, fmt, -12345, "abcdef", 0xbeefu);
    BOOST_REQUIRE(full > 0 && full < static_cast<int>(sizeof expected));
    for (size_t size = 0; size <= static_cast<size_t>(full) + 3; size++) {
        unsigned char buf[160];
        memset(buf, 0xaa, sizeof buf);
        int n = virtue::snprintf(reinterpret_cast<char*>(buf), size, fmt, -12345, "abcdef", 0xbeefu);
        BOOST_TEST(n == full);
        for (size_t i = size; i < sizeof buf; i++) BOOST_TEST_REQUIRE(buf[i] == 0xaa, "byte " << i << " size " << size);
        if (size > 0) {
            size_t kept = size - 1 < static_cast<size_t>(full) ? size - 1 : static_cast<size_t>(full);
            BOOST_TEST(buf[kept] == 0);
            BOOST_TEST(memcmp(buf, expected, kept) == 0);
        }
    }
    // size 0: the buffer may be null.
    BOOST_TEST(virtue::snprintf(nullptr, 0, "%s %d", "abc", 12345) == 9);
    // Padding and precision count towards the length even when cut.
    char small[4];
    BOOST_TEST(virtue::snprintf(small, sizeof small, "%-20s|", "x") == 21);
    BOOST_TEST(std::string(small) == "x  ");
    BOOST_TEST(virtue::snprintf(small, sizeof small, "%.30d", 1) == 30);
    BOOST_TEST(std::string(small) == "000");
    BOOST_TEST(virtue::snprintf(small, 1, "%ld", static_cast<long>(INT64_MIN)) == 20);
    BOOST_TEST(small[0] == '\0');
}

BOOST_AUTO_TEST_CASE(vsnprintf_and_documented_extras) {
    // An unknown conversion is copied through as written; a lone '%' at the
    // end too.
    BOOST_TEST(unchecked("a%yb") == "a%yb");
    BOOST_TEST(unchecked("a%-5qb") == "a%-5qb");
    BOOST_TEST(unchecked("tail%") == "tail%");
    BOOST_TEST(unchecked("%d %s", 3, "x") == "3 x");
    // The va_list is only read, never consumed for the caller.
    BOOST_TEST(unchecked("%lu-%lu", 1ul, 2ul) == "1-2");
}

BOOST_AUTO_TEST_SUITE_END()
