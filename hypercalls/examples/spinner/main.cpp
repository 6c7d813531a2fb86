// spinner: a CPU-bound domain for watching the scheduler. Every thread (thread
// 0 in main, the others in thread_main) runs fixed chunks of arithmetic and
// counts them; thread 0 reports the total every 500 ms of system time. With
// bootargs "seconds=N" it ends the domain (status 0) after N seconds.
#include <stdlib.h>

#include <virtue/sdk.hpp>

namespace {

constexpr uint64_t kNsPerMs = 1000000;
constexpr unsigned kMaxThreads = 64;
constexpr uint64_t kIterationsPerChunk = 100000;

// One counter per thread, each on its own cache line; only its thread writes it.
struct alignas(64) Counter {
    uint64_t chunks;
};
Counter g_counters[kMaxThreads];
uint64_t g_overflow_chunks; // threads beyond kMaxThreads share this one (atomically)

volatile uint64_t g_sink; // keeps the work from being optimised away

void one_chunk(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t i = 0; i < kIterationsPerChunk; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    g_sink = x;
}

void count_chunk(unsigned index) {
    if (index < kMaxThreads) {
        uint64_t* c = &g_counters[index].chunks;
        __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_add(&g_overflow_chunks, 1, __ATOMIC_RELAXED);
    }
}

uint64_t total_chunks() {
    uint64_t sum = __atomic_load_n(&g_overflow_chunks, __ATOMIC_RELAXED);
    for (auto& c : g_counters) sum += __atomic_load_n(&c.chunks, __ATOMIC_RELAXED);
    return sum;
}

uint64_t now() { return virtue::sys::system_time(); }

} // namespace

int thread_main(unsigned index) {
    for (uint64_t n = 0;; n++) {
        one_chunk(n + index);
        count_chunk(index);
    }
}

int main() {
    const char* name = virtue::domain_name();
    uint64_t seconds = 0;
    if (const char* v = virtue::arg_value("seconds")) seconds = strtoul(v, nullptr, 10);

    uint64_t start = now();
    uint64_t next_report = start + 500 * kNsPerMs;
    for (uint64_t n = 0;; n++) {
        one_chunk(n);
        count_chunk(0);
        uint64_t t = now();
        if (t >= next_report) {
            virtue::print("spinner %s: chunks=%llu t=%llu\n", name,
                          static_cast<unsigned long long>(total_chunks()),
                          static_cast<unsigned long long>((t - start) / kNsPerMs));
            while (next_report <= t) next_report += 500 * kNsPerMs;
        }
        if (seconds != 0 && t - start >= seconds * 1000 * kNsPerMs) break;
    }
    virtue::print("spinner %s: done chunks=%llu\n", name, static_cast<unsigned long long>(total_chunks()));
    return 0;
}
