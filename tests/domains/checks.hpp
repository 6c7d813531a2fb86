// Checks for the test domains: each prints "check <label>: ok" or
// "check <label>: FAIL got <v> expected <e>"; the integration tests read
// those lines and the totals the domains print.
#pragma once

#include <stdint.h>

#include <virtue/sdk.hpp>

namespace test_domains {

struct Checks {
    unsigned total = 0, failed = 0;
    void expect(const char* label, int64_t got, int64_t expected) {
        total++;
        if (got == expected) {
            virtue::print("check %s: ok\n", label);
        } else {
            failed++;
            virtue::print("check %s: FAIL got %lld expected %lld\n", label, static_cast<long long>(got),
                          static_cast<long long>(expected));
        }
    }
    // A typed result (virtue::Result) compared in the ABI's form: its value,
    // or its negated errno.
    template <typename T> void expect(const char* label, const virtue::Result<T>& got, int64_t expected) {
        expect(label, got.raw(), expected);
    }
    // A condition that is not a single value: got/expected are printed as 1/0.
    void expect_true(const char* label, bool ok) { expect(label, ok ? 1 : 0, 1); }
};

// Bytes of the domain's partition not yet used (domain_info).
inline uint64_t free_bytes() {
    virtue_domain_info info{};
    (void)virtue::sys::domain_info(&info);
    return info.free_bytes;
}

} // namespace test_domains
