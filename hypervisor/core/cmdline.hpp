// Xen-style hypervisor command line.
//
// Options are declared next to the code that uses them:
//
//     bool opt_noreboot = false;
//     VIRTUE_BOOLEAN_PARAM("noreboot", opt_noreboot);
//     uint64_t opt_debug_exit;                    // any unsigned integer type
//     VIRTUE_UINT_PARAM("debug-exit", opt_debug_exit);
//     char opt_selftest[128];                     // char array, NUL-terminated
//     VIRTUE_STRING_PARAM("selftest", opt_selftest);
//     VIRTUE_CUSTOM_PARAM("com1", parse_com1);    // Status parse_com1(const char*, WarningSink&)
//
// Each macro puts a ParamDesc into the linker section `virtue_params`;
// parse_cmdline_registered() walks it between __start_virtue_params and
// __stop_virtue_params, which GNU ld defines for a section with that name
// (orphan or explicit; an explicit rule must KEEP it and define both).
//
// Syntax (as Xen): whitespace-separated `name`, `name=value`, `no-name`.
// Double quotes group whitespace into a value (`name="a b"`) and are removed.
// '-' and '_' in names are interchangeable. A later occurrence of an option
// overrides an earlier one. Problems are warnings, never fatal: the option
// keeps its previous value and parsing continues.
//
//   Boolean  `name` = true, `no-name` = false, `name=<b>` with <b> one of
//            1/0 yes/no true/false on/off enable/disable; `no-name=<b>`
//            inverts <b>.
//   Uint     decimal or 0x-prefixed hex; out of range for the variable is a
//            bad value. `name` alone is a bad value.
//   String   copied with its NUL if it fits, else a warning. `name` alone
//            sets the empty string.
//   Custom   the function gets the value ("" for `name` alone, "no" for
//            `no-name`, as Xen does); an error return is a bad value.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <type_traits>

#include "lib/result.hpp"

namespace virtue {

enum class CmdlineWarningKind : uint8_t {
    UnknownOption,     // unknown option 'X' ignored
    BadValue,          // bad value 'V' for option 'X'; keeping default
    NotBoolean,        // 'no-' prefix on non-boolean option 'X' ignored
    UnterminatedQuote, // unterminated quote in 'X' ignored
    TokenTooLong,      // over-long option 'X...' ignored
    ValueTooLong,      // value 'V' too long for option 'X'; keeping default
    UnknownEntry,      // unknown entry 'V' in option 'X' ignored
    UnsupportedEntry,  // 'V' in option 'X' is not supported; ignored
};

// The strings are valid only during WarningSink::warn(): copy to keep.
struct CmdlineWarning {
    CmdlineWarningKind kind;
    const char* option; // as written (with any "no-" prefix); never null
    const char* value;  // offending value or list entry; "" if none; never null
};

// Implemented by the caller: the hypervisor prints, tests collect.
class WarningSink {
  public:
    virtual void warn(const CmdlineWarning& w) = 0;

  protected:
    ~WarningSink() = default; // not deleted through the interface
};

// One-line text of a warning (no newline). Always NUL-terminates when
// size > 0; returns the length written.
size_t format_cmdline_warning(const CmdlineWarning& w, char* buf, size_t size);

enum class ParamKind : uint8_t { Boolean, Uint, String, Custom };

using CustomParamFn = Status (*)(const char* value, WarningSink& warnings);

struct ParamDesc {
    const char* name;
    ParamKind kind;
    void* var;        // bool*, unsigned integer*, or char array; null for Custom
    size_t size;      // sizeof the variable (1, 2, 4, 8 for Uint)
    CustomParamFn fn; // Custom only
};
static_assert(sizeof(ParamDesc) % 8 == 0, "the section is walked as an array");

// Longest token (`name=value`) accepted; longer ones are warned and skipped.
inline constexpr size_t CMDLINE_TOKEN_MAX = 256;

// Parses `cmdline` against the table [begin, end). A null cmdline is the
// empty command line; a null/empty table makes every option unknown.
void parse_cmdline(const char* cmdline, const ParamDesc* begin, const ParamDesc* end,
                   WarningSink& warnings);

// Same, against every VIRTUE_*_PARAM linked into the image.
void parse_cmdline_registered(const char* cmdline, WarningSink& warnings);

// Value parsers, shared with custom option parsers.
[[nodiscard]] Result<bool> parse_bool_value(const char* s);
// Decimal or 0x hex, no sign, no trailing text. Err::Range above `max`.
[[nodiscard]] Result<uint64_t> parse_uint_value(const char* s, uint64_t max = UINT64_MAX);

} // namespace virtue

// ---- Declaration macros (usable in any namespace, at namespace scope) ----

#define VIRTUE_PARAM_CONCAT_(a, b) a##b
#define VIRTUE_PARAM_CONCAT(a, b) VIRTUE_PARAM_CONCAT_(a, b)
#define VIRTUE_PARAM_ENTRY_(name_, kind_, var_, size_, fn_)                                    \
    __attribute__((section("virtue_params"), used, aligned(8))) static const ::virtue::ParamDesc \
        VIRTUE_PARAM_CONCAT(virtue_param_desc_, __COUNTER__) = {name_, kind_, var_, size_, fn_}

#define VIRTUE_BOOLEAN_PARAM(name_, var_)                                                      \
    static_assert(::std::is_same_v<decltype(var_), bool>, "boolean param needs a bool");       \
    VIRTUE_PARAM_ENTRY_(name_, ::virtue::ParamKind::Boolean, &(var_), sizeof(var_), nullptr)

#define VIRTUE_UINT_PARAM(name_, var_)                                                         \
    static_assert(::std::is_unsigned_v<decltype(var_)> &&                                      \
                      !::std::is_same_v<decltype(var_), bool> &&                               \
                      (sizeof(var_) == 1 || sizeof(var_) == 2 || sizeof(var_) == 4 ||          \
                       sizeof(var_) == 8),                                                     \
                  "uint param needs an unsigned integer");                                     \
    VIRTUE_PARAM_ENTRY_(name_, ::virtue::ParamKind::Uint, &(var_), sizeof(var_), nullptr)

#define VIRTUE_STRING_PARAM(name_, var_)                                                       \
    static_assert(::std::is_same_v<decltype(var_), char[sizeof(var_)]>,                        \
                  "string param needs a char array");                                          \
    VIRTUE_PARAM_ENTRY_(name_, ::virtue::ParamKind::String, (var_), sizeof(var_), nullptr)

#define VIRTUE_CUSTOM_PARAM(name_, fn_)                                                        \
    VIRTUE_PARAM_ENTRY_(name_, ::virtue::ParamKind::Custom, nullptr, 0,                        \
                        static_cast<::virtue::CustomParamFn>(fn_))
