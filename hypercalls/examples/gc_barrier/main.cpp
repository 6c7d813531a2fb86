// gc-barrier: the write barrier of a generational garbage collector, built
// from the native family's page tools.
//
// A generational collector must know which old-generation pages the
// program wrote since the last collection (they may now point into the
// young generation). This demo finds them in two independent ways, every
// cycle, and checks both against what the mutator really wrote:
//
//   write protection + in-domain fault handler: after each collection the
//     old generation is mapped read-only; the first write to a page faults,
//     the handler thread records the page in its card table, makes that one
//     page writable again and resumes the writer, which never notices;
//   dirty bits: after each collection the collector clears the old
//     generation's dirty bits (aspace_read_bits with BITS_CLEAR) and reads
//     them back at the next one.
//
// Reads of the old generation neither fault nor set dirty bits. Prints one
// line per cycle and a verdict; exit status 0 when both methods agree with
// the writes in every cycle.
#include <string.h>

#include <virtue/sdk.hpp>

namespace {

using virtue::print;
namespace sys = virtue::sys;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kOld = 0x0000400000000000ull; // the old generation
constexpr uint64_t kOldPages = 512;              // 2 MiB
constexpr unsigned kCycles = 8;
constexpr uint64_t kMs = 1'000'000;

using Bitmap = uint8_t[kOldPages / 8];

void set_bit(uint8_t* map, uint64_t i) { map[i / 8] = static_cast<uint8_t>(map[i / 8] | (1u << (i % 8))); }
unsigned count_bits(const uint8_t* map) {
    unsigned n = 0;
    for (uint64_t i = 0; i < kOldPages; i++) n += (map[i / 8] >> (i % 8)) & 1u;
    return n;
}

uint64_t now() { return static_cast<uint64_t>(sys::system_time()); }

// The handler thread's state (same address space as everyone).
struct Barrier {
    virtue::AddressSpace* heap;
    Bitmap cards;              // pages written since the last collection
    volatile uint64_t faults;  // write-barrier faults served
    volatile uint64_t stray;   // faults that were not old-generation writes
    volatile bool stop;
};

int64_t barrier_handler(void* arg) {
    Barrier& b = *static_cast<Barrier*>(arg);
    while (!b.stop) {
        virtue_fault_info fi{};
        if (sys::fault_wait(now() + 10 * kMs, &fi) != 0) continue; // timeout: look at stop
        constexpr uint64_t kWriteFault = 0x2;                         // #PF error code bit 1
        bool barrier = fi.vector == 14 && (fi.error_code & kWriteFault) && fi.address >= kOld &&
                       fi.address < kOld + kOldPages * kPage;
        if (!barrier) {
            b.stray = b.stray + 1;
            sys::thread_kill(fi.thread, -14);
        } else {
            uint64_t page = (fi.address - kOld) / kPage;
            set_bit(b.cards, page);
            b.faults = b.faults + 1;
            b.heap->protect(kOld + page * kPage, kPage, VIRTUE_PROT_READ | VIRTUE_PROT_WRITE);
            sys::thread_resume(fi.thread); // the write runs again, and succeeds
        }
        sys::handle_close(fi.thread);
    }
    return 0;
}

// The mutator of one cycle: writes some pages, reads others. Which ones
// comes from a small generator seeded by the cycle, so main can replay it.
struct Mutation {
    unsigned cycle;
    Bitmap written;
};

uint64_t next_random(uint64_t& s) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return s >> 33;
}

int64_t mutator(void* arg) {
    Mutation& m = *static_cast<Mutation*>(arg);
    uint64_t seed = 0x9e3779b97f4a7c15ull * (m.cycle + 1);
    unsigned writes = 4 + m.cycle * 37;
    uint64_t sum = 0;
    for (unsigned i = 0; i < writes; i++) {
        uint64_t page = next_random(seed) % kOldPages;
        auto* slot = reinterpret_cast<volatile uint64_t*>(kOld + page * kPage + (next_random(seed) % 512) * 8);
        *slot = *slot + i + 1; // a pointer store, in a real collector
        set_bit(m.written, page);
        sum += *reinterpret_cast<volatile uint64_t*>(kOld + (next_random(seed) % kOldPages) * kPage); // a read
    }
    return static_cast<int64_t>(sum & 0xff);
}

int fail(const char* what, int64_t rc) {
    print("gc-barrier: %s failed: %lld\n", what, static_cast<long long>(rc));
    return 1;
}

} // namespace

int main() {
    virtue::AddressSpace heap;
    if (int64_t rc = virtue::AddressSpace::self(heap); rc < 0) return fail("address_space_self", rc);
    virtue::Memory old_gen;
    if (int64_t rc = virtue::Memory::create(kOldPages, old_gen); rc < 0) return fail("memory_create", rc);
    // Small pages: dirty bits and protection per 4 KiB page.
    if (int64_t rc = heap.map(kOld, old_gen, 0, kOldPages * kPage,
                              VIRTUE_PROT_READ | VIRTUE_PROT_WRITE | VIRTUE_MAP_SMALL_PAGES);
        rc < 0)
        return fail("aspace_map", rc);

    static Barrier barrier;
    barrier.heap = &heap;
    virtue::Thread handler;
    if (int64_t rc = virtue::Thread::create(barrier_handler, &barrier, handler); rc < 0) return fail("handler", rc);
    if (int64_t rc = sys::fault_handler_set(heap.get(), handler.get()); rc < 0) return fail("fault_handler_set", rc);
    handler.start();

    unsigned agreed = 0;
    static Bitmap dirty;
    for (unsigned cycle = 0; cycle < kCycles; cycle++) {
        // The collection: old generation read-only, dirty bits cleared,
        // card table empty.
        if (int64_t rc = heap.protect(kOld, kOldPages * kPage, VIRTUE_PROT_READ); rc < 0) return fail("protect", rc);
        if (int64_t rc = heap.read_bits(kOld, kOldPages * kPage, VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR, dirty); rc < 0)
            return fail("clear dirty bits", rc);
        memset(barrier.cards, 0, sizeof barrier.cards);
        uint64_t faults_before = barrier.faults;

        static Mutation m;
        memset(&m, 0, sizeof m);
        m.cycle = cycle;
        virtue::Thread t;
        if (int64_t rc = virtue::Thread::create(mutator, &m, t); rc < 0) return fail("mutator", rc);
        t.start();
        if (int64_t rc = t.join(VIRTUE_DEADLINE_NONE); rc < 0) return fail("join", rc);

        int64_t ndirty = heap.read_bits(kOld, kOldPages * kPage, VIRTUE_BITS_DIRTY, dirty);
        if (ndirty < 0) return fail("read dirty bits", ndirty);
        unsigned written = count_bits(m.written);
        unsigned faults = static_cast<unsigned>(barrier.faults - faults_before);
        bool same = !memcmp(m.written, barrier.cards, sizeof dirty) && !memcmp(m.written, dirty, sizeof dirty) &&
                    faults == written && static_cast<unsigned>(ndirty) == written;
        if (same) agreed++;
        print("gc-barrier: cycle %u: %u pages written, %u barrier faults, %lld dirty pages, %s\n", cycle, written,
              faults, static_cast<long long>(ndirty), same ? "same pages" : "DIFFERENT pages");
    }
    barrier.stop = true;
    handler.join(VIRTUE_DEADLINE_NONE);
    print("gc-barrier: %u of %u cycles agree, %llu stray faults\n", agreed, kCycles,
          static_cast<unsigned long long>(barrier.stray));
    return agreed == kCycles && barrier.stray == 0 ? 0 : 1;
}
