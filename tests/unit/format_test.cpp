// Unit tests for the hypervisor's bounded printf (lib/format).
#include <boost/test/unit_test.hpp>

#include <stdint.h>
#include <string>

#include "lib/format.hpp"

using virtue::format;

namespace {
template <typename... A>
std::string fmt(const char* f, A... a) {
    char buf[256];
    size_t n = format(buf, sizeof buf, f, a...);
    BOOST_REQUIRE(n < sizeof buf);
    return std::string(buf);
}
} // namespace

BOOST_AUTO_TEST_SUITE(format_tests)

BOOST_AUTO_TEST_CASE(integers) {
    BOOST_TEST(fmt("%d", -42) == "-42");
    BOOST_TEST(fmt("%u", 4000000000u) == "4000000000");
    BOOST_TEST(fmt("%x", 0xdeadbeefu) == "deadbeef");
    BOOST_TEST(fmt("%lX", 0xABCDEF0123UL) == "ABCDEF0123");
    BOOST_TEST(fmt("%ld", static_cast<long>(INT64_MIN)) == "-9223372036854775808");
    BOOST_TEST(fmt("%lu", UINT64_MAX) == "18446744073709551615");
    BOOST_TEST(fmt("%08x", 0x1234u) == "00001234");
    BOOST_TEST(fmt("%-6d|", 12) == "12    |");
    BOOST_TEST(fmt("%6d|", -12) == "   -12|");
    BOOST_TEST(fmt("%06d", -12) == "-00012");
    BOOST_TEST(fmt("%hhu", 0x1ff) == "255");
    BOOST_TEST(fmt("%hd", 0x18000) == "-32768");
    BOOST_TEST(fmt("%zu", size_t{77}) == "77");
    BOOST_TEST(fmt("%o", 8) == "10");
}

BOOST_AUTO_TEST_CASE(strings_chars_pointers) {
    BOOST_TEST(fmt("[%s]", "abc") == "[abc]");
    BOOST_TEST(fmt("[%5s]", "ab") == "[   ab]");
    BOOST_TEST(fmt("[%-5s]", "ab") == "[ab   ]");
    BOOST_TEST(fmt("[%.2s]", "abcdef") == "[ab]");
    BOOST_TEST(fmt("[%.*s]", 3, "abcdef") == "[abc]");
    BOOST_TEST(fmt("[%s]", static_cast<const char*>(nullptr)) == "[(null)]");
    BOOST_TEST(fmt("%c%c", 'o', 'k') == "ok");
    BOOST_TEST(fmt("%p", reinterpret_cast<void*>(0xffff82d080001000UL)) == "0xffff82d080001000");
    BOOST_TEST(fmt("100%%") == "100%");
    BOOST_TEST(fmt("%q") == "%q");
}

BOOST_AUTO_TEST_CASE(truncation_reports_full_length_and_terminates) {
    char buf[8];
    size_t n = format(buf, sizeof buf, "%s-%d", "abcdef", 12345);
    BOOST_TEST(n == 12u);
    BOOST_TEST(std::string(buf) == "abcdef-");
    char one[1] = {'x'};
    BOOST_TEST(format(one, 1, "hello") == 5u);
    BOOST_TEST(one[0] == '\0');
    BOOST_TEST(format(nullptr, 0, "%d", 123) == 3u);
}

BOOST_AUTO_TEST_CASE(lone_percent_at_end) {
    BOOST_TEST(fmt("abc%") == "abc");
}

BOOST_AUTO_TEST_SUITE_END()
