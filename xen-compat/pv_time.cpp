// PV guest time (pv_time.hpp).
#include "pv_time.hpp"

namespace virtue::xen {

PvclockScale pvclock_scale(uint64_t tsc_hz) {
    constexpr uint64_t kNsPerSecond = 1'000'000'000;
    // mul / 2^32 * 2^shift = 1e9 / tsc_hz, mul normalised into [2^31, 2^32).
    // Binary long division of 1e9 * 2^(32 - shift) by tsc_hz, exact for any
    // shift: start with the integer part of 1e9 * 2^32 / tsc_hz (1e9 * 2^32
    // fits in 64 bits), then add quotient bits one at a time.
    uint64_t q = (kNsPerSecond << 32) / tsc_hz;
    uint64_t r = (kNsPerSecond << 32) % tsc_hz;
    int shift = 0;
    while (q >= (uint64_t{1} << 32)) { // a slow TSC: shift the ticks left
        q >>= 1;
        shift++;
    }
    while (q < (uint64_t{1} << 31)) { // a fast TSC: one more quotient bit
        const bool carry = r >= tsc_hz - r; // 2r >= tsc_hz, without overflow
        r = carry ? r - (tsc_hz - r) : 2 * r;
        q = 2 * q + (carry ? 1 : 0);
        shift--;
    }
    return PvclockScale{static_cast<uint32_t>(q), static_cast<int8_t>(shift)};
}

uint64_t pvclock_ns(uint64_t delta, PvclockScale s) {
    delta = s.shift >= 0 ? delta << s.shift : delta >> -s.shift;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * s.mul) >> 32);
}

void pvclock_publish(vcpu_time_info& t, uint64_t tsc, uint64_t system_ns, PvclockScale s) {
    // The page is the guest's: whatever version it holds, go to an odd one
    // before the fields change and to the next even one after.
    const uint32_t odd = __atomic_load_n(&t.version, __ATOMIC_RELAXED) | 1;
    __atomic_store_n(&t.version, odd, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&t.tsc_timestamp, tsc, __ATOMIC_RELAXED);
    __atomic_store_n(&t.system_time, system_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&t.tsc_to_system_mul, s.mul, __ATOMIC_RELAXED);
    __atomic_store_n(&t.tsc_shift, s.shift, __ATOMIC_RELAXED);
    __atomic_store_n(&t.version, odd + 1, __ATOMIC_RELEASE);
}

} // namespace virtue::xen
