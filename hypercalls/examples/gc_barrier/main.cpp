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
using virtue::BitsFlags;
using virtue::Prot;

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

uint64_t now() { return sys::system_time(); }

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
    virtue::Fault f;
    while (!b.stop) {
        if (!virtue::Fault::wait(now() + 10 * kMs, f)) continue; // timeout: look at stop
        bool barrier = f.vector == virtue::Fault::kPageFault && (f.error_code & virtue::Fault::kPageFaultWrite) &&
                       f.address >= kOld && f.address < kOld + kOldPages * kPage;
        if (!barrier) {
            b.stray = b.stray + 1;
            (void)f.thread.kill(-14);
        } else {
            uint64_t page = (f.address - kOld) / kPage;
            set_bit(b.cards, page);
            b.faults = b.faults + 1;
            (void)b.heap->protect(kOld + page * kPage, kPage, Prot::read | Prot::write);
            (void)f.thread.resume(); // the write runs again, and succeeds
        }
        // f.thread's handle closes when the next fault replaces it, or with f.
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

int fail(const char* what, virtue::Errno e) {
    print("gc-barrier: %s failed: %s\n", what, virtue::name(e));
    return 1;
}

} // namespace

int main() {
    virtue::AddressSpace heap;
    if (auto r = virtue::AddressSpace::self(heap); !r) return fail("aspace_self", r.error());
    virtue::Memory old_gen;
    if (auto r = virtue::Memory::create(kOldPages, old_gen); !r) return fail("memory_create", r.error());
    // Small pages: dirty bits and protection per 4 KiB page.
    if (auto r = heap.map(kOld, old_gen, 0, kOldPages * kPage, Prot::read | Prot::write | Prot::map_small_pages); !r)
        return fail("aspace_map", r.error());

    static Barrier barrier;
    barrier.heap = &heap;
    virtue::Thread handler;
    if (auto r = virtue::Thread::create(barrier_handler, &barrier, handler); !r) return fail("handler", r.error());
    if (auto r = heap.set_fault_handler(handler); !r) return fail("fault_handler_set", r.error());
    if (auto r = handler.start(); !r) return fail("handler start", r.error());

    unsigned agreed = 0;
    static Bitmap dirty;
    for (unsigned cycle = 0; cycle < kCycles; cycle++) {
        // The collection: old generation read-only, dirty bits cleared,
        // card table empty.
        if (auto r = heap.protect(kOld, kOldPages * kPage, Prot::read); !r) return fail("protect", r.error());
        if (auto r = heap.read_bits(kOld, kOldPages * kPage, BitsFlags::dirty | BitsFlags::clear, dirty); !r)
            return fail("clear dirty bits", r.error());
        memset(barrier.cards, 0, sizeof barrier.cards);
        uint64_t faults_before = barrier.faults;

        static Mutation m;
        memset(&m, 0, sizeof m);
        m.cycle = cycle;
        virtue::Thread t;
        if (auto r = virtue::Thread::create(mutator, &m, t); !r) return fail("mutator", r.error());
        if (auto r = t.start(); !r) return fail("mutator start", r.error());
        if (auto r = t.join(VIRTUE_DEADLINE_NONE); !r) return fail("join", r.error());

        virtue::Result<uint64_t> read = heap.read_bits(kOld, kOldPages * kPage, BitsFlags::dirty, dirty);
        if (!read) return fail("read dirty bits", read.error());
        uint64_t ndirty = *read;
        unsigned written = count_bits(m.written);
        unsigned faults = static_cast<unsigned>(barrier.faults - faults_before);
        bool same = !memcmp(m.written, barrier.cards, sizeof dirty) && !memcmp(m.written, dirty, sizeof dirty) &&
                    faults == written && static_cast<unsigned>(ndirty) == written;
        if (same) agreed++;
        print("gc-barrier: cycle %u: %u pages written, %u barrier faults, %llu dirty pages, %s\n", cycle, written,
              faults, static_cast<unsigned long long>(ndirty), same ? "same pages" : "DIFFERENT pages");
    }
    barrier.stop = true;
    if (auto r = handler.join(VIRTUE_DEADLINE_NONE); !r) return fail("handler join", r.error());
    print("gc-barrier: %u of %u cycles agree, %llu stray faults\n", agreed, kCycles,
          static_cast<unsigned long long>(barrier.stray));
    return agreed == kCycles && barrier.stray == 0 ? 0 : 1;
}
