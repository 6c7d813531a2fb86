// Benchmark domain for `make bench`: prints figures measured with rdtsc
// from ring 3 (median of batches). Run with vcpus = 2 on one CPU so that
// yield switches between this domain's two threads; a second domain
// ("pong", same image, bootargs "pong") gives cross-domain switches.
//
//   bootargs "calls"    null calls, then thread switches within the domain
//                       (thread 1 sleeps until needed, then yields back)
//   bootargs "xdomain peer=D"  switches between domains: yield ping-pong
//                       with domain D ("pong"); see xdomain_figures
//   bootargs "pong peer=D"     the partner: yields until D says stop (or for
//                       pong-seconds, default 5), counting its turns
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

// The page the "xdomain" domain grants to its "pong" partner: pong counts
// its turns there, so that the bench can tell a batch in which every yield
// switched to the partner and back from one in which it did not.
struct PingPongPage {
    volatile uint64_t pong_turns; // pong's yields that came back
    volatile uint32_t pong_ready;
    volatile uint32_t stop;       // set by the bench when it is done
};
constexpr uint64_t kSharedVa = 0x200000000ull;

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

uint64_t peer_domid() {
    const char* s = virtue::arg_value("peer");
    uint64_t v = 0;
    for (; s && *s >= '0' && *s <= '9'; s++) v = v * 10 + static_cast<uint64_t>(*s - '0');
    return v;
}

// Domain switches on one CPU: this domain and its "pong" partner yield to
// each other, so one yield here is two switches (here -> pong -> here).
// That holds only while both are runnable and in the same credit class
// (sched/credit.hpp: a domain with credit left is picked before one
// without, so a yield by the richer one finds itself again and does not
// switch, or the partner yields to itself). The partner therefore counts
// its turns in a page this domain grants it: a batch counts only if the
// partner came back exactly once per yield (else it is redone), timing
// starts once the partner reports ready, and the discarded batches are
// reported. (Both run on the one CPU the boot gives them.)
void xdomain_figures(uint64_t cyc_per_us) {
    const uint64_t peer = peer_domid();
    virtue::AddressSpace as;
    virtue::Memory page;
    check(virtue::AddressSpace::self(as).raw(), "aspace_self");
    check(virtue::Memory::create(1, page).raw(), "memory_create");
    check(as.map(kSharedVa, page, 0, 4096, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)).raw(),
          "map");
    auto ref = page.grant_access(0, peer);
    check(ref.raw(), "grant_access");
    auto* shared = reinterpret_cast<PingPongPage*>(kSharedVa);
    // The partner learns the grant reference by calling endpoint 1.
    virtue::Endpoint ep;
    check(virtue::Endpoint::create(peer, ep).raw(), "endpoint_create");
    virtue_ipc_msg m{};
    check(ep.wait(m, virtue::sys::system_time() + 10'000'000'000ull).raw(), "ipc_wait");
    m = {};
    m.word[0] = static_cast<uint64_t>(ref.raw());
    check(virtue::Endpoint::reply(m).raw(), "ipc_reply");
    while (!shared->pong_ready) virtue::sys::yield();

    uint64_t per[kBatches];
    int kept = 0, discarded = 0;
    while (kept < kBatches && discarded < 20 * kBatches) {
        const uint64_t turns0 = shared->pong_turns;
        const uint64_t t0 = rdtsc();
        for (int i = 0; i < kPerBatch; i++) virtue::sys::yield();
        const uint64_t t1 = rdtsc();
        if (shared->pong_turns - turns0 == kPerBatch) per[kept++] = (t1 - t0) / kPerBatch;
        else discarded++;
    }
    shared->stop = 1;
    virtue::print("bench: domain switch batches: %d kept, %d discarded (the partner did not switch once per yield)\n",
                  kept, discarded);
    if (kept < kBatches) virtue::panic("bench: the partner domain did not take its turns");
    report("domain switch, same CPU (yield ping-pong / 2)", median(per, kBatches) / 2, cyc_per_us);
}

// The "pong" side: fetches the grant reference from the bench domain, maps
// the shared page and yields until told to stop (pong-seconds at most).
void pong() {
    const char* s = virtue::arg_value("pong-seconds");
    int64_t seconds = s ? static_cast<int64_t>(*s - '0') : 5;
    const uint64_t end = virtue::sys::system_time() + static_cast<uint64_t>(seconds) * 1'000'000'000;
    const uint64_t peer = peer_domid();
    virtue::Endpoint ep;
    // The bench domain may not have made its endpoint yet.
    while (virtue::Endpoint::connect(peer, 1, ep, virtue::sys::system_time() + 1'000'000'000).raw() != 0) {
        if (virtue::sys::system_time() >= end) virtue::panic("pong: no endpoint to connect to");
        (void)virtue::sys::sleep_until(virtue::sys::system_time() + 1'000'000);
    }
    virtue_ipc_msg m{};
    check(ep.call(m).raw(), "ipc_call");
    virtue::AddressSpace as;
    virtue::GrantMapping mapping;
    check(virtue::AddressSpace::self(as).raw(), "aspace_self");
    check(virtue::GrantMapping::map(peer, m.word[0], as, kSharedVa, virtue::GrantFlags::from_bits(0), mapping).raw(),
          "grant_map");
    auto* shared = reinterpret_cast<PingPongPage*>(kSharedVa);
    shared->pong_ready = 1;
    while (!shared->stop && virtue::sys::system_time() < end) {
        virtue::sys::yield();
        shared->pong_turns = shared->pong_turns + 1;
    }
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
    // Off the CPU until needed, so that it does not disturb the null calls.
    while (!g_partner_yields && !g_stop) (void)virtue::sys::sleep_until(virtue::sys::system_time() + 1'000'000);
    g_partner_ready = true;
    while (!g_stop) virtue::sys::yield();
    return 0;
}

int main() {
    if (virtue::has_arg("pong")) {
        pong();
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
        xdomain_figures(cyc_per_us);
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
