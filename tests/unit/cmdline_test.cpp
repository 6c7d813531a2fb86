// Tests for the command-line framework and the console option value parsers
// (hypervisor/core/cmdline.*, hypervisor/core/cmdline_values.*).
#include <boost/test/unit_test.hpp>

#include <stdint.h>
#include <string.h>

#include <ostream>
#include <string>
#include <vector>

#include "core/cmdline.hpp"
#include "core/cmdline_values.hpp"

using namespace virtue;

namespace virtue {
// Boost.Test printers (static: cannot clash with other test files).
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, Err e) {
    return o << err_name(e);
}
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, LogLevel l) {
    return o << "LogLevel(" << int(l) << ")";
}
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, CmdlineWarningKind k) {
    return o << "CmdlineWarningKind(" << int(k) << ")";
}
} // namespace virtue

namespace {

// Collects warnings as kind + formatted text.
struct Collect final : WarningSink {
    std::vector<CmdlineWarningKind> kinds;
    std::vector<std::string> texts;
    void warn(const CmdlineWarning& w) override {
        char buf[512];
        format_cmdline_warning(w, buf, sizeof buf);
        kinds.push_back(w.kind);
        texts.push_back(buf);
    }
    size_t count() const { return texts.size(); }
};

// Options of every kind, reset before each test.
struct Opts {
    bool flag = false;
    bool other = true;
    bool literal_no = false;
    uint8_t u8 = 7;
    uint16_t u16 = 7;
    uint32_t u32 = 7;
    uint64_t u64 = 7;
    char str[8] = "dflt";
    char big[CMDLINE_TOKEN_MAX] = "";
};
Opts g;

std::vector<std::string> g_custom_calls;
Status custom_fn(const char* v, WarningSink&) {
    g_custom_calls.push_back(v);
    return strcmp(v, "fail") == 0 ? Status(Err::InvalidArgument) : Status::success();
}

ConsoleSelection g_console;
Status console_fn(const char* v, WarningSink& w) { return parse_console_list(v, g_console, w); }

const ParamDesc TABLE[] = {
    {"flag", ParamKind::Boolean, &g.flag, sizeof g.flag, nullptr},
    {"other_flag", ParamKind::Boolean, &g.other, sizeof g.other, nullptr},
    {"no-literal", ParamKind::Boolean, &g.literal_no, sizeof g.literal_no, nullptr},
    {"u8", ParamKind::Uint, &g.u8, sizeof g.u8, nullptr},
    {"u16", ParamKind::Uint, &g.u16, sizeof g.u16, nullptr},
    {"u32", ParamKind::Uint, &g.u32, sizeof g.u32, nullptr},
    {"debug-exit", ParamKind::Uint, &g.u64, sizeof g.u64, nullptr},
    {"str", ParamKind::String, g.str, sizeof g.str, nullptr},
    {"big", ParamKind::String, g.big, sizeof g.big, nullptr},
    {"custom", ParamKind::Custom, nullptr, 0, custom_fn},
    {"console", ParamKind::Custom, nullptr, 0, console_fn},
};

Collect run(const char* cmdline) {
    g = Opts{};
    g_custom_calls.clear();
    g_console = ConsoleSelection{};
    Collect c;
    parse_cmdline(cmdline, TABLE, TABLE + sizeof TABLE / sizeof TABLE[0], c);
    return c;
}

// Registered through the linker section, as hypervisor code does.
bool reg_flag = false;
VIRTUE_BOOLEAN_PARAM("unit-test-registered-flag", reg_flag);
uint16_t reg_port = 0;
VIRTUE_UINT_PARAM("unit-test-registered-port", reg_port);
char reg_name[16] = "none";
VIRTUE_STRING_PARAM("unit-test-registered-name", reg_name);
std::string reg_custom_value;
Status reg_custom(const char* v, WarningSink&) {
    reg_custom_value = v;
    return Status::success();
}
VIRTUE_CUSTOM_PARAM("unit-test-registered-custom", reg_custom);

} // namespace

BOOST_AUTO_TEST_SUITE(cmdline)

BOOST_AUTO_TEST_CASE(every_syntax_form) {
    Collect w = run("flag u32=42 no-other_flag str=\"a b\" custom=x=y");
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(g.flag == true);
    BOOST_TEST(g.u32 == 42u);
    BOOST_TEST(g.other == false);
    BOOST_TEST(std::string(g.str) == "a b");
    BOOST_TEST(g_custom_calls == std::vector<std::string>{"x=y"}); // first '=' splits
}

BOOST_AUTO_TEST_CASE(boolean_values) {
    for (const char* t : {"1", "yes", "true", "on", "enable"}) {
        Collect w = run((std::string("flag=") + t + " other_flag=" + t).c_str());
        BOOST_TEST(w.count() == 0u);
        BOOST_TEST(g.flag == true, t);
        // no-name=<true> means false.
        run((std::string("flag no-flag=") + t).c_str());
        BOOST_TEST(g.flag == false, t);
    }
    for (const char* f : {"0", "no", "false", "off", "disable"}) {
        Collect w = run((std::string("other_flag=") + f).c_str());
        BOOST_TEST(w.count() == 0u);
        BOOST_TEST(g.other == false, f);
        run((std::string("no-flag=") + f).c_str()); // double negation
        BOOST_TEST(g.flag == true, f);
    }
    for (const char* bad : {"flag=maybe", "flag=", "flag=TRUE", "flag=2", "flag=on1"}) {
        Collect w = run(bad);
        BOOST_TEST(g.flag == false, bad);
        BOOST_REQUIRE(w.count() == 1u);
        BOOST_TEST(w.kinds[0] == CmdlineWarningKind::BadValue);
    }
    Collect w = run("flag=maybe");
    BOOST_TEST(w.texts[0] == "bad value 'maybe' for option 'flag'; keeping default");
}

BOOST_AUTO_TEST_CASE(uint_values) {
    run("debug-exit=0xf4");
    BOOST_TEST(g.u64 == 0xf4u);
    run("debug-exit=0XfF u32=010"); // decimal with a leading zero, not octal
    BOOST_TEST(g.u64 == 0xffu);
    BOOST_TEST(g.u32 == 10u);
    run("debug-exit=18446744073709551615");
    BOOST_TEST(g.u64 == UINT64_MAX);
    run("debug-exit=0xffffffffffffffff u8=255 u16=65535 u32=4294967295");
    BOOST_TEST(g.u64 == UINT64_MAX);
    BOOST_TEST(g.u8 == 255u);
    BOOST_TEST(g.u16 == 65535u);
    BOOST_TEST(g.u32 == 4294967295u);

    for (const char* bad :
         {"debug-exit=99999999999999999999999", "debug-exit=18446744073709551616",
          "debug-exit=0x10000000000000000", "u8=256", "u16=65536", "u32=4294967296",
          "debug-exit=-1", "debug-exit=12abc", "debug-exit=0x", "debug-exit=", "debug-exit",
          "debug-exit=0xfg", "debug-exit= 5", "debug-exit=+5"}) {
        Collect w = run(bad);
        BOOST_TEST(g.u64 == 7u, bad);
        BOOST_TEST(g.u8 == 7u, bad);
        BOOST_TEST(g.u16 == 7u, bad);
        BOOST_TEST(g.u32 == 7u, bad);
        BOOST_TEST(w.count() >= 1u, bad);
        BOOST_TEST(w.kinds[0] == CmdlineWarningKind::BadValue, bad);
    }
    Collect w = run("debug-exit=99999999999999999999999");
    BOOST_TEST(w.texts[0] ==
               "bad value '99999999999999999999999' for option 'debug-exit'; keeping default");
}

BOOST_AUTO_TEST_CASE(string_values) {
    run("str=1234567"); // exactly fits with its NUL
    BOOST_TEST(std::string(g.str) == "1234567");
    Collect w = run("str=12345678");
    BOOST_TEST(std::string(g.str) == "dflt");
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.texts[0] == "value '12345678' too long for option 'str'; keeping default");
    run("str");
    BOOST_TEST(std::string(g.str) == "");
    run("str=");
    BOOST_TEST(std::string(g.str) == "");
    run("str=\"\"");
    BOOST_TEST(std::string(g.str) == "");
    run("str=a\"b c\"d"); // quotes may sit anywhere and are dropped
    BOOST_TEST(std::string(g.str) == "ab cd");
    run("\"str=x y\"");
    BOOST_TEST(std::string(g.str) == "x y");
}

BOOST_AUTO_TEST_CASE(custom_values) {
    Collect w = run("custom=abc custom no-custom custom=fail");
    BOOST_TEST(g_custom_calls == (std::vector<std::string>{"abc", "", "no", "fail"}));
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.texts[0] == "bad value 'fail' for option 'custom'; keeping default");
    w = run("no-custom=1"); // as Xen: a value after no- is an error
    BOOST_TEST(g_custom_calls.empty());
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.kinds[0] == CmdlineWarningKind::BadValue);
}

BOOST_AUTO_TEST_CASE(no_prefix_on_non_boolean) {
    Collect w = run("no-debug-exit no-str=abc no_u8");
    BOOST_TEST(g.u64 == 7u);
    BOOST_TEST(std::string(g.str) == "dflt");
    BOOST_REQUIRE(w.count() == 3u);
    BOOST_TEST(w.texts[0] == "'no-' prefix on non-boolean option 'no-debug-exit' ignored");
    BOOST_TEST(w.kinds[1] == CmdlineWarningKind::NotBoolean);
    BOOST_TEST(w.kinds[2] == CmdlineWarningKind::NotBoolean);
    // An option whose own name starts with "no-" is found as written.
    w = run("no-literal");
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(g.literal_no == true);
    w = run("no-no-literal");
    BOOST_TEST(g.literal_no == false);
}

BOOST_AUTO_TEST_CASE(unknown_options) {
    Collect w = run("frobnicate flag=on zap=3 no-such =5 no-");
    BOOST_TEST(g.flag == true);
    BOOST_REQUIRE(w.count() == 5u);
    BOOST_TEST(w.texts[0] == "unknown option 'frobnicate' ignored");
    BOOST_TEST(w.texts[1] == "unknown option 'zap' ignored");
    BOOST_TEST(w.texts[2] == "unknown option 'no-such' ignored");
    BOOST_TEST(w.texts[3] == "unknown option '' ignored");
    BOOST_TEST(w.texts[4] == "unknown option 'no-' ignored");
    // Names are case sensitive, as in Xen.
    w = run("FLAG");
    BOOST_TEST(w.count() == 1u);
    BOOST_TEST(g.flag == false);
    // A prefix or extension of a name is not the name.
    w = run("fla flags");
    BOOST_TEST(w.count() == 2u);
    BOOST_TEST(g.flag == false);
}

BOOST_AUTO_TEST_CASE(dash_and_underscore_are_equivalent) {
    Collect w = run("debug_exit=5 other-flag=0");
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(g.u64 == 5u);
    BOOST_TEST(g.other == false);
    w = run("no_other_flag");
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(g.other == false);
    w = run("no_literal"); // the literal "no-literal" option
    BOOST_TEST(g.literal_no == true);
}

BOOST_AUTO_TEST_CASE(duplicates_last_wins) {
    Collect w = run("u32=1 flag u32=2 no-flag u32=3 str=a str=b");
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(g.u32 == 3u);
    BOOST_TEST(g.flag == false);
    BOOST_TEST(std::string(g.str) == "b");
    // A bad later value keeps the earlier good one.
    run("u32=1 u32=oops");
    BOOST_TEST(g.u32 == 1u);
}

BOOST_AUTO_TEST_CASE(empty_and_null) {
    BOOST_TEST(run("").count() == 0u);
    BOOST_TEST(run(" \t\r\n  ").count() == 0u);
    BOOST_TEST(run(nullptr).count() == 0u); // documented: null is empty
    BOOST_TEST(g.u32 == 7u);
    // Any whitespace separates.
    Collect w = run("\tflag\nu32=9\r");
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(g.flag);
    BOOST_TEST(g.u32 == 9u);
    // An empty table: everything is unknown, nothing breaks.
    Collect c;
    parse_cmdline("flag u32=1", nullptr, nullptr, c);
    BOOST_TEST(c.count() == 2u);
}

BOOST_AUTO_TEST_CASE(unterminated_quote) {
    Collect w = run("flag str=\"abc def u32=5");
    BOOST_TEST(g.flag == true);
    BOOST_TEST(std::string(g.str) == "dflt");
    BOOST_TEST(g.u32 == 7u); // swallowed by the open quote
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.texts[0] == "unterminated quote in 'str=abc def u32=5' ignored");
}

BOOST_AUTO_TEST_CASE(over_long_tokens) {
    std::string longest(CMDLINE_TOKEN_MAX - 1 - 4, 'x'); // "big=" + this fills the buffer
    Collect w = run(("big=" + longest + " flag").c_str());
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(std::string(g.big) == longest);
    BOOST_TEST(g.flag);

    std::string too_long = "big=" + longest + "y";
    w = run((too_long + " flag").c_str());
    BOOST_TEST(std::string(g.big) == "");
    BOOST_TEST(g.flag); // parsing continues after the bad token
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.kinds[0] == CmdlineWarningKind::TokenTooLong);
    BOOST_TEST(w.texts[0] == "over-long option '" + too_long.substr(0, 32) + "...' ignored");

    // An enormous token with quotes and an unterminated quote beyond the buffer.
    std::string huge(10000, 'q');
    w = run((huge + " u32=3 \"" + huge).c_str());
    BOOST_TEST(g.u32 == 3u);
    BOOST_REQUIRE(w.count() == 2u);
    BOOST_TEST(w.kinds[0] == CmdlineWarningKind::TokenTooLong);
    BOOST_TEST(w.kinds[1] == CmdlineWarningKind::UnterminatedQuote);
}

BOOST_AUTO_TEST_CASE(four_kib_command_line) {
    std::string line;
    int n = 0;
    while (line.size() < 4096 - 16) {
        line += "u32=" + std::to_string(n) + (n % 2 ? " no-flag " : " flag ");
        n++;
    }
    Collect w = run(line.c_str());
    BOOST_TEST(line.size() >= 4000u);
    BOOST_TEST(w.count() == 0u);
    BOOST_TEST(g.u32 == uint32_t(n - 1));
    BOOST_TEST(g.flag == ((n - 1) % 2 == 0)); // the last pair decides

    std::string unknown;
    for (int i = 0; i < 400; i++) unknown += "zz" + std::to_string(i) + " ";
    w = run(unknown.c_str());
    BOOST_TEST(w.count() == 400u);
    BOOST_TEST(w.texts[399] == "unknown option 'zz399' ignored");
}

BOOST_AUTO_TEST_CASE(registered_params) {
    Collect c;
    parse_cmdline_registered("unit-test-registered-flag unit_test_registered_port=0x3f8 "
                             "unit-test-registered-name=dom0 unit-test-registered-custom=hi",
                             c);
    BOOST_TEST(c.count() == 0u);
    BOOST_TEST(reg_flag);
    BOOST_TEST(reg_port == 0x3f8u);
    BOOST_TEST(std::string(reg_name) == "dom0");
    BOOST_TEST(reg_custom_value == "hi");
    parse_cmdline_registered("no-unit-test-registered-flag unit-test-registered-port=65536", c);
    BOOST_TEST(!reg_flag);
    BOOST_TEST(reg_port == 0x3f8u);
    BOOST_REQUIRE(c.count() == 1u);
    BOOST_TEST(c.kinds[0] == CmdlineWarningKind::BadValue);
}

BOOST_AUTO_TEST_CASE(warning_formatting) {
    CmdlineWarning w{CmdlineWarningKind::UnknownOption, "abcdef", ""};
    char buf[64];
    BOOST_TEST(format_cmdline_warning(w, buf, sizeof buf) == strlen("unknown option 'abcdef' ignored"));
    BOOST_TEST(std::string(buf) == "unknown option 'abcdef' ignored");
    memset(buf, 'Z', sizeof buf);
    BOOST_TEST(format_cmdline_warning(w, buf, 10) == 9u); // truncated, still terminated
    BOOST_TEST(std::string(buf) == "unknown o");
    BOOST_TEST(buf[10] == 'Z');
    BOOST_TEST(format_cmdline_warning(w, buf, 1) == 0u);
    BOOST_TEST(buf[0] == '\0');
    BOOST_TEST(format_cmdline_warning(w, nullptr, 0) == 0u);
    CmdlineWarning nulls{CmdlineWarningKind::BadValue, nullptr, nullptr};
    format_cmdline_warning(nulls, buf, sizeof buf);
    BOOST_TEST(std::string(buf) == "bad value '' for option ''; keeping default");
    CmdlineWarning e{CmdlineWarningKind::UnknownEntry, "console", "foo"};
    format_cmdline_warning(e, buf, sizeof buf);
    BOOST_TEST(std::string(buf) == "unknown entry 'foo' in option 'console' ignored");
    CmdlineWarning u{CmdlineWarningKind::UnsupportedEntry, "console", "vga"};
    format_cmdline_warning(u, buf, sizeof buf);
    BOOST_TEST(std::string(buf) == "'vga' in option 'console' is not supported; ignored");
    // A '%' in user text is copied, not interpreted.
    CmdlineWarning pct{CmdlineWarningKind::UnknownOption, "%v%o%s", "X"};
    format_cmdline_warning(pct, buf, sizeof buf);
    BOOST_TEST(std::string(buf) == "unknown option '%v%o%s' ignored");
}

BOOST_AUTO_TEST_CASE(value_helpers) {
    BOOST_TEST(*parse_uint_value("0") == 0u);
    BOOST_TEST(*parse_uint_value("0x0") == 0u);
    BOOST_TEST(*parse_uint_value("4096") == 4096u);
    BOOST_TEST(parse_uint_value("4096", 4095).error() == Err::Range);
    BOOST_TEST(parse_uint_value("99999999999999999999x").error() == Err::InvalidArgument);
    BOOST_TEST(parse_uint_value("").error() == Err::InvalidArgument);
    BOOST_TEST(parse_uint_value(nullptr).error() == Err::InvalidArgument);
    BOOST_TEST(*parse_bool_value("enable") == true);
    BOOST_TEST(*parse_bool_value("disable") == false);
    BOOST_TEST(parse_bool_value(nullptr).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cmdline_values)

BOOST_AUTO_TEST_CASE(com_spec_good) {
    ComConfig c;
    BOOST_REQUIRE(parse_com_spec("115200,8n1", c).ok());
    BOOST_TEST(!c.baud_auto);
    BOOST_TEST(c.baud == 115200u);
    BOOST_TEST(c.data_bits == 8u);
    BOOST_TEST(c.parity == 'n');
    BOOST_TEST(c.stop_bits == 1u);
    BOOST_TEST(c.io_base == 0u);
    BOOST_TEST(c.irq == COM_IRQ_DEFAULT);
    BOOST_TEST(c.clock_hz == UART_DEFAULT_CLOCK_HZ);

    BOOST_REQUIRE(parse_com_spec("9600,7e2,0x2f8,3", c).ok());
    BOOST_TEST(c.baud == 9600u);
    BOOST_TEST(c.data_bits == 7u);
    BOOST_TEST(c.parity == 'e');
    BOOST_TEST(c.stop_bits == 2u);
    BOOST_TEST(c.io_base == 0x2f8u);
    BOOST_TEST(c.irq == 3u);

    BOOST_REQUIRE(parse_com_spec("auto,5s1", c).ok());
    BOOST_TEST(c.baud_auto);
    BOOST_TEST(c.data_bits == 5u);
    BOOST_TEST(c.parity == 's');
    BOOST_TEST(c.io_base == 0u); // fields not given are defaults again

    BOOST_REQUIRE(parse_com_spec("", c).ok()); // all defaults, as Xen
    BOOST_TEST(c.baud_auto);
    BOOST_REQUIRE(parse_com_spec("115200,,0x3e8", c).ok());
    BOOST_TEST(c.data_bits == 8u);
    BOOST_TEST(c.io_base == 0x3e8u);
    BOOST_REQUIRE(parse_com_spec(",,,0", c).ok()); // irq 0: poll
    BOOST_TEST(c.baud_auto);
    BOOST_TEST(c.irq == 0u);
    BOOST_REQUIRE(parse_com_spec("115200,8o1,1016,15", c).ok()); // decimal io base
    BOOST_TEST(c.io_base == 1016u);
    BOOST_TEST(c.irq == 15u);
    BOOST_REQUIRE(parse_com_spec("2", c).ok()); // divisor 57600 fits
    BOOST_TEST(c.baud == 2u);

    // /<base-baud>: the clock divided by 16, as in Xen.
    BOOST_REQUIRE(parse_com_spec("460800/460800,8m2", c).ok());
    BOOST_TEST(c.clock_hz == 460800u * 16);
    BOOST_TEST(c.baud == 460800u);
    BOOST_TEST(c.parity == 'm');
    BOOST_REQUIRE(parse_com_spec("auto/0x1c200", c).ok());
    BOOST_TEST(c.clock_hz == 0x1c200u * 16);
}

BOOST_AUTO_TEST_CASE(com_spec_bad) {
    struct Case {
        const char* spec;
        Err err;
    };
    const Case cases[] = {
        {"0", Err::InvalidArgument},
        {"fast", Err::InvalidArgument},
        {"115200x", Err::InvalidArgument},
        {"230400", Err::Range},          // above clock/16
        {"1", Err::Range},               // divisor 115200 > 0xffff
        {"4294967296", Err::Range},
        {"115200/0", Err::InvalidArgument},
        {"115200/", Err::InvalidArgument},
        {"115200/268435456", Err::Range}, // clock would pass 2^32
        {"115200,8n", Err::InvalidArgument},
        {"115200,8n12", Err::InvalidArgument},
        {"115200,9n1", Err::InvalidArgument},
        {"115200,4n1", Err::InvalidArgument},
        {"115200,8x1", Err::InvalidArgument},
        {"115200,8n3", Err::InvalidArgument},
        {"115200,8N1", Err::InvalidArgument},
        {"115200,8n1,0", Err::InvalidArgument},
        {"115200,8n1,0x10000", Err::Range},
        {"115200,8n1,port", Err::InvalidArgument},
        {"115200,8n1,pci", Err::NotSupported},
        {"115200,8n1,amt", Err::NotSupported},
        {"115200,8n1,0x3f8,16", Err::Range},
        {"115200,8n1,0x3f8,-1", Err::InvalidArgument},
        {"115200,8n1,0x3f8,4,00:16.3", Err::NotSupported},
        {"115200,8n1,0x3f8,4,", Err::NotSupported},
        {"1152000000000000000000000000000000000000,8n1", Err::InvalidArgument}, // field too long
    };
    for (const Case& k : cases) {
        ComConfig c;
        c.baud = 1234; // must survive a rejected spec
        Status st = parse_com_spec(k.spec, c);
        BOOST_TEST(!st.ok(), k.spec);
        if (!st.ok()) BOOST_TEST(st.error() == k.err, k.spec);
        BOOST_TEST(c.baud == 1234u, k.spec);
    }
    ComConfig c;
    BOOST_TEST(parse_com_spec(nullptr, c).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(loglvl) {
    LogLevels l{LogLevel::Warning, LogLevel::Warning};
    BOOST_REQUIRE(parse_loglvl("all", l).ok());
    BOOST_TEST(l.threshold == LogLevel::All);
    BOOST_TEST(l.rate_limited == LogLevel::All);
    BOOST_REQUIRE(parse_loglvl("warning/debug", l).ok());
    BOOST_TEST(l.threshold == LogLevel::Warning);
    BOOST_TEST(l.rate_limited == LogLevel::Debug);
    BOOST_REQUIRE(parse_loglvl("debug/error", l).ok()); // raised to the first
    BOOST_TEST(l.threshold == LogLevel::Debug);
    BOOST_TEST(l.rate_limited == LogLevel::Debug);
    BOOST_REQUIRE(parse_loglvl("none", l).ok());
    BOOST_TEST(l.threshold == LogLevel::None);
    BOOST_REQUIRE(parse_loglvl("error/info", l).ok());
    BOOST_TEST(l.threshold == LogLevel::Error);
    BOOST_TEST(l.rate_limited == LogLevel::Info);

    for (const char* bad : {"", "verbose", "info/", "/info", "Info", "info/debug/all", "warn",
                            "warningwarningwarningwarningwarningwarning"}) {
        LogLevels before{LogLevel::Error, LogLevel::Info};
        LogLevels x = before;
        BOOST_TEST(parse_loglvl(bad, x).error() == Err::InvalidArgument, bad);
        BOOST_TEST(x.threshold == LogLevel::Error, bad);
        BOOST_TEST(x.rate_limited == LogLevel::Info, bad);
    }
    BOOST_TEST(parse_loglvl(nullptr, l).error() == Err::InvalidArgument);
    BOOST_TEST(*parse_log_level_name("info") == LogLevel::Info);
}

BOOST_AUTO_TEST_CASE(console_list) {
    ConsoleSelection s;
    Collect w;
    BOOST_REQUIRE(parse_console_list("com1", s, w).ok());
    BOOST_TEST(s.has(ConsoleKind::Com1));
    BOOST_TEST(!s.has(ConsoleKind::Com2));
    BOOST_TEST(w.count() == 0u);

    BOOST_REQUIRE(parse_console_list("com1,vga", s, w).ok());
    BOOST_TEST(s.has(ConsoleKind::Com1));
    BOOST_TEST(s.has(ConsoleKind::Vga)); // recorded, but flagged
    BOOST_TEST(!console_supported(ConsoleKind::Vga));
    BOOST_TEST(console_supported(ConsoleKind::Com2));
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.texts[0] == "'vga' in option 'console' is not supported; ignored");

    w = Collect{};
    BOOST_REQUIRE(parse_console_list(",com2,,none,", s, w).ok());
    BOOST_TEST(s.mask == ((1u << unsigned(ConsoleKind::Com2)) | (1u << unsigned(ConsoleKind::None))));
    BOOST_TEST(w.count() == 0u);

    BOOST_REQUIRE(parse_console_list("com1,serial,com2", s, w).ok());
    BOOST_TEST(s.has(ConsoleKind::Com1));
    BOOST_TEST(s.has(ConsoleKind::Com2));
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.texts[0] == "unknown entry 'serial' in option 'console' ignored");

    // Nothing known at all: error, selection untouched.
    ConsoleSelection before = s;
    w = Collect{};
    BOOST_TEST(parse_console_list("foo,bar", s, w).error() == Err::InvalidArgument);
    BOOST_TEST(s.mask == before.mask);
    BOOST_TEST(w.count() == 2u);
    BOOST_TEST(parse_console_list("", s, w).error() == Err::InvalidArgument);
    BOOST_TEST(parse_console_list(nullptr, s, w).error() == Err::InvalidArgument);

    // Over-long entry: shown truncated, the rest still parsed.
    w = Collect{};
    std::string lng(100, 'c');
    BOOST_REQUIRE(parse_console_list((lng + ",com1").c_str(), s, w).ok());
    BOOST_TEST(s.mask == (1u << unsigned(ConsoleKind::Com1)));
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.texts[0] == "unknown entry '" + lng.substr(0, 31) + "' in option 'console' ignored");
}

BOOST_AUTO_TEST_CASE(console_through_the_command_line) {
    Collect w = run("console=com1,foo");
    BOOST_TEST(g_console.has(ConsoleKind::Com1));
    BOOST_REQUIRE(w.count() == 1u);
    BOOST_TEST(w.kinds[0] == CmdlineWarningKind::UnknownEntry);
    w = run("console=foo");
    BOOST_TEST(g_console.mask == 0u);
    BOOST_REQUIRE(w.count() == 2u);
    BOOST_TEST(w.texts[1] == "bad value 'foo' for option 'console'; keeping default");
}

BOOST_AUTO_TEST_SUITE_END()
