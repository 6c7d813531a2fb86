// Benchmark domain for `make bench`: prints figures measured with rdtsc
// from ring 3 (median of batches). Run with vcpus = 2 on one CPU so that
// yield switches between this domain's two threads; a second domain
// ("pong", same image, bootargs "pong") gives cross-domain switches.
//
//   bootargs "calls"    null calls, then thread switches within the domain
//                       (thread 1 sleeps until needed, then yields back)
//   bootargs "xdomain"  switches between domains: yield ping-pong with "pong"
//   bootargs "pong"     yields for pong-seconds (default 5), then exits
//   bootargs "memory"   address-space calls: map+unmap, protect and
//                       dirty-bit queries over 1 GiB of mappings
//   bootargs "threads"  thread create+start+join+close, a wait_any that finds
//                       its object ready
#include <virtue/sdk.hpp>

#include <xen/errno.h>

namespace {

constexpr int kBatches = 101;
constexpr int kPerBatch = 200;

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
}

volatile bool g_partner_yields = false; // thread 1 yields while set
volatile bool g_partner_ready = false;
volatile bool g_stop = false;

uint64_t median(uint64_t* v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

// Cycles per operation: median over batches of kPerBatch operations.
template <typename Op> uint64_t measure(Op op) {
    uint64_t per[kBatches];
    for (int b = 0; b < kBatches; b++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < kPerBatch; i++) op();
        per[b] = (rdtsc() - t0) / kPerBatch;
    }
    return median(per, kBatches);
}

// TSC cycles per nanosecond x 1000, from system_time over a busy interval.
uint64_t tsc_khz_per_mhz() {
    int64_t n0 = virtue::sys::system_time();
    uint64_t t0 = rdtsc();
    while (virtue::sys::system_time() - n0 < 20'000'000) {
    }
    int64_t n1 = virtue::sys::system_time();
    uint64_t t1 = rdtsc();
    return (t1 - t0) * 1000 / static_cast<uint64_t>(n1 - n0); // cycles per 1000 ns
}

// Cycles of one operation: median of `runs` single runs (for slow ones).
template <typename Op> uint64_t measure_slow(int runs, Op op) {
    uint64_t per[15];
    if (runs > 15) runs = 15;
    for (int b = 0; b < runs; b++) {
        uint64_t t0 = rdtsc();
        op();
        per[b] = rdtsc() - t0;
    }
    return median(per, runs);
}

void report(const char* what, uint64_t cycles, uint64_t cyc_per_us) {
    uint64_t ns = cycles * 1000 / cyc_per_us;
    virtue::print("bench: %s: %lu cycles, %lu ns\n", what, cycles, ns);
}

void check(int64_t rc, const char* what) {
    if (rc < 0) virtue::panic("bench: %s failed: %ld", what, rc);
}

void memory_figures(uint64_t cyc_per_us) {
    constexpr uint64_t kPage = 4096, kVa = 0x100000000ull, k1G = 1ull << 30;
    constexpr uint64_t kRW = VIRTUE_PROT_READ | VIRTUE_PROT_WRITE;
    virtue::AddressSpace as;
    check(virtue::AddressSpace::self(as).raw(), "aspace_self");
    virtue::Memory one, big;
    check(virtue::Memory::create(1, one).raw(), "memory_create");
    check(virtue::Memory::create(512, big).raw(), "memory_create 512");
    // Warm up the page tables above the leaves, as a program that maps
    // repeatedly in one area would have them.
    check(as.map(kVa + k1G, one, 0, kPage, virtue::Prot::from_bits(kRW)).raw(), "map");
    report("map+unmap of 1 page (4 KiB)", measure([&] {
               (void)as.map(kVa, one, 0, kPage, virtue::Prot::from_bits(kRW));
               (void)as.unmap(kVa, kPage);
           }), cyc_per_us);
    report("map+unmap of 512 pages as one 2 MiB page", measure([&] {
               (void)as.map(kVa, big, 0, 512 * kPage, virtue::Prot::from_bits(kRW));
               (void)as.unmap(kVa, 512 * kPage);
           }), cyc_per_us);
    report("map+unmap of 512 pages as 4 KiB pages", measure_slow(11, [&] {
               (void)as.map(kVa, big, 0, 512 * kPage, virtue::Prot::from_bits(kRW | VIRTUE_MAP_SMALL_PAGES));
               (void)as.unmap(kVa, 512 * kPage);
           }), cyc_per_us);
    check(as.unmap(kVa + k1G, kPage).raw(), "unmap");

    // 1 GiB of mappings: the same 2 MiB region 512 times, in 4 KiB pages
    // (262144 entries) and then in 2 MiB pages (512 entries).
    for (int small = 1; small >= 0; small--) {
        const uint64_t prot = kRW | (small ? VIRTUE_MAP_SMALL_PAGES : 0);
        for (uint64_t i = 0; i < 512; i++) check(as.map(kVa + i * 512 * kPage, big, 0, 512 * kPage, virtue::Prot::from_bits(prot)).raw(), "map 1 GiB");
        const char* kind = small ? "4 KiB pages" : "2 MiB pages";
        char what[96];
        virtue::snprintf(what, sizeof what, "protect of 1 GiB in %s (read-only and back)", kind);
        report(what, measure_slow(5, [&] {
                   (void)as.protect(kVa, k1G, virtue::Prot::from_bits(VIRTUE_PROT_READ));
                   (void)as.protect(kVa, k1G, virtue::Prot::from_bits(kRW));
               }) / 2, cyc_per_us);
        static uint8_t bitmap[(k1G / kPage) / 8];
        virtue::snprintf(what, sizeof what, "dirty-bit query over 1 GiB in %s", kind);
        report(what, measure_slow(5, [&] { (void)as.read_bits(kVa, k1G, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), bitmap); }), cyc_per_us);
        virtue::snprintf(what, sizeof what, "dirty-bit query and clear over 1 GiB in %s", kind);
        report(what, measure_slow(5, [&] { (void)as.read_bits(kVa, k1G, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR), bitmap); }),
               cyc_per_us);
        uint64_t t0 = rdtsc();
        check(as.unmap(kVa, k1G).raw(), "unmap 1 GiB");
        virtue::snprintf(what, sizeof what, "unmap of 1 GiB in %s (one run)", kind);
        report(what, rdtsc() - t0, cyc_per_us);
    }
    // The longest a single call runs: creating (and zeroing) a region is
    // linear in its frames; 4 GiB is the largest region.
    report("memory_create+close of 16 MiB (4096 frames, zeroed)", measure_slow(5, [&] {
               virtue::Memory m;
               check(virtue::Memory::create(4096, m).raw(), "memory_create 16 MiB");
           }), cyc_per_us);
}

int64_t return_zero(void*) { return 0; }

void thread_figures(uint64_t cyc_per_us) {
    report("thread create+start+join+close (SDK, stack from malloc)", measure([] {
               virtue::Thread t;
               (void)virtue::Thread::create(return_zero, nullptr, t, 4096);
               (void)t.start();
               (void)t.join(VIRTUE_DEADLINE_NONE);
           }), cyc_per_us);
    virtue::Thread done;
    check(virtue::Thread::create(return_zero, nullptr, done, 4096).raw(), "thread_create");
    check(done.start().raw(), "thread_start");
    check(done.join(VIRTUE_DEADLINE_NONE).raw(), "thread_join");
    uint64_t h = done.get();
    report("wait_any on one object that is ready", measure([&] { (void)virtue::sys::wait_any(&h, 1, 0); }), cyc_per_us);
}

} // namespace

int thread_main(unsigned) {
    // Off the CPU until needed, (void)(void)(void)(void)(void)(void)(void)(void)(void)(void)(void)(void)(void)(void)(void)(void)so that it does not disturb the null calls.
    while (!g_partner_yields && !g_stop) (void)virtue::sys::sleep_until(virtue::sys::system_time() + 1'000'000);
    g_partner_ready = true;
    while (!g_stop) virtue::sys::yield();
    return 0;
}

int main() {
    if (virtue::has_arg("pong")) {
        // Yields until the bench domain has finished (it exits first and the
        // hypervisor then ends this one when told to by "pong-seconds").
        const char* s = virtue::arg_value("pong-seconds");
        int64_t seconds = s ? static_cast<int64_t>(*s - '0') : 5;
        uint64_t end = virtue::sys::system_time() + static_cast<uint64_t>(seconds) * 1'000'000'000;
        while (virtue::sys::system_time() < end) virtue::sys::yield();
        return 0;
    }
    uint64_t cyc_per_us = tsc_khz_per_mhz();
    virtue::print("bench: tsc %lu cycles/us\n", cyc_per_us);
    if (virtue::has_arg("threads")) {
        thread_figures(cyc_per_us);
        virtue::print("bench: done\n");
        return 0;
    }
    if (virtue::has_arg("memory")) {
        memory_figures(cyc_per_us);
        virtue::print("bench: done\n");
        return 0;
    }
    if (virtue::has_arg("xdomain")) {
        // The pong domain yields back each time: one yield = two switches.
        uint64_t pingpong = measure([] { virtue::sys::yield(); });
        report("domain switch, same CPU (yield ping-pong / 2)", pingpong / 2, cyc_per_us);
        virtue::print("bench: done\n");
        return 0;
    }

    report("null hypercall (unknown number, -ENOSYS) round trip", measure([] {
               int64_t r;
               asm volatile("syscall" : "=a"(r) : "a"(uint64_t{0x1fff}) : "rcx", "r11", "memory");
           }), cyc_per_us);
    report("system_time hypercall round trip", measure([] { virtue::sys::system_time(); }), cyc_per_us);
    report("yield with nothing else runnable", measure([] { virtue::sys::yield(); }), cyc_per_us);

    // Thread 1 now yields back each time: one yield here = two switches.
    g_partner_yields = true;
    while (!g_partner_ready) virtue::sys::yield();
    uint64_t pingpong = measure([] { virtue::sys::yield(); });
    report("thread switch, same domain (yield ping-pong / 2)", pingpong / 2, cyc_per_us);
    g_partner_yields = false;
    g_stop = true;
    virtue::print("bench: done\n");
    return 0;
}
