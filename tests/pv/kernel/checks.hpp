// The PV test kernel's report: one line per check,
//     PASS name
//     FAIL name: detail
// values worth recording as
//     INFO name: text
// and at the end
//     SUMMARY <n> checks, <m> failed
// (tests/integration/xen_oracle.hpp reads them back). Check names are one
// word ([a-z0-9_]+), the same on every hypervisor.
#pragma once

#include <stdint.h>

namespace pv {

class Checks {
public:
    // A check that holds when ok; detail (printf-like) says why it failed.
    void expect(const char* name, bool ok, const char* detail_fmt, ...) __attribute__((format(printf, 4, 5)));
    // A result that must equal the expected value exactly.
    void expect_eq(const char* name, int64_t got, int64_t expected);
    void info(const char* name, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    void summary() const;
    unsigned failed() const { return failed_; }

private:
    unsigned total_ = 0, failed_ = 0;
};

} // namespace pv
