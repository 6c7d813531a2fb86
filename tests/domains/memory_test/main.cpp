// memory-test: the memory and address-space calls, driven by its
// bootargs, for the integration tests. Lines it prints:
//
//   checks      "check <label>: ok" / "check <label>: FAIL got <v> expected <e>"
//               per check, then "memory: <n> checks, <m> failed"
//   tlb=R       needs vcpus >= 2: threads 1.. spin on a shared epoch; thread 0
//               replaces the page at one address R times (unmap, map another
//               region) and each reader then reads it once. Prints
//               "tlb: <R> rounds, <k> readers, <s> stale reads, audit <a>"
//               (readers also map and unmap pages of their own meanwhile)
//   mmfuzz=N    N random operations checked against a model: memory calls
//               on this address space (what must be mapped where), maps and
//               unmaps in a second one (a forked image), and thread calls on
//               up to 6 threads running in either (create, start, suspend,
//               resume, read registers, priority, affinity, kill, join,
//               close) with the errno each state allows; the hypervisor's
//               memory audit every 64 ops; "mmfuzz: <N> ops, <f> failures,
//               audit <a>, <b> bytes not returned, <t> threads"
//   longcalls   long calls preempted and continued (do_longcalls below)
//   longcalls   long calls are preempted and continued (do_longcalls)
// then "memory-test: done" and status 0 (1 if anything failed).
#include <stdlib.h>
#include <string.h>
#include <xen/errno.h>

#include <virtue/sdk.hpp>

#include "../checks.hpp"

namespace {

using virtue::print;
namespace sys = virtue::raw; // the ABI as it is: results compared with -XEN_E*

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRW = VIRTUE_PROT_READ | VIRTUE_PROT_WRITE;
constexpr uint64_t kR = VIRTUE_PROT_READ;

bool g_failed = false;

using test_domains::Checks;
using test_domains::free_bytes;


volatile uint64_t* word(uint64_t va) { return reinterpret_cast<volatile uint64_t*>(va); }

// ---- checks: every call's success and error paths ----

void do_checks() {
    Checks c;
    const int64_t einval = -XEN_EINVAL, efault = -XEN_EFAULT, erange = -XEN_ERANGE, eexist = -XEN_EEXIST,
                  eacces = -XEN_EACCES, enoent = -XEN_ENOENT, enodev = -XEN_ENODEV, ebadf = -XEN_EBADF,
                  exdev = -XEN_EXDEV, enomem = -XEN_ENOMEM;
    const uint64_t free0 = free_bytes();
    const uint64_t base = 0x100000000ull; // 4 GiB: nothing of the image there

    // memory_create
    c.expect("create_zero", sys::memory_create(0, 0), einval);
    c.expect("create_too_big", sys::memory_create((1u << 20) + 1, 0), einval);
    c.expect("create_flags", sys::memory_create(1, 1), einval);
    c.expect("create_beyond_partition", sys::memory_create(free0 / kPage + 1, 0), enomem);
    c.expect_true("create_failed_changes_nothing", free_bytes() == free0);
    virtue::Memory mem;
    c.expect("create", virtue::Memory::create(4, mem), 0);
    c.expect_true("create_takes_frames", free_bytes() == free0 - 4 * kPage);
    virtue_handle_info hi{};
    c.expect("query_memory", mem.query(hi), 0);
    c.expect_true("memory_type_rights", hi.type == VIRTUE_OBJ_MEMORY &&
                                            hi.rights == (VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER |
                                                          VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE |
                                                          VIRTUE_RIGHT_EXECUTE | VIRTUE_RIGHT_MAP));
    virtue::AddressSpace as;
    c.expect("aspace_self", virtue::AddressSpace::self(as), 0);

    // aspace_map: success, then every refusal
    c.expect("map", as.map(base, mem, 0, 4 * kPage, virtue::Prot::from_bits(kRW)), 0);
    *word(base) = 0x1111;
    *word(base + 3 * kPage) = 0x4444;
    c.expect_true("map_zeroed_and_writable", *word(base + kPage) == 0 && *word(base) == 0x1111);
    c.expect("map_overlap", as.map(base + 3 * kPage, mem, 0, 2 * kPage, virtue::Prot::from_bits(kR)), eexist);
    c.expect("map_va_unaligned", as.map(base + 0x10000 + 8, mem, 0, kPage, virtue::Prot::from_bits(kR)), einval);
    c.expect("map_offset_unaligned", as.map(base + 0x10000, mem, 8, kPage, virtue::Prot::from_bits(kR)), einval);
    c.expect("map_size_zero", as.map(base + 0x10000, mem, 0, 0, virtue::Prot::from_bits(kR)), einval);
    c.expect("map_size_unaligned", as.map(base + 0x10000, mem, 0, 100, virtue::Prot::from_bits(kR)), einval);
    c.expect("map_prot_none", as.map(base + 0x10000, mem, 0, kPage, virtue::Prot::from_bits(0)), einval);
    c.expect("map_prot_unknown", as.map(base + 0x10000, mem, 0, kPage, virtue::Prot::from_bits(kR | 0x8000)), einval);
    c.expect("map_hypervisor", as.map(0xffff800000000000ull, mem, 0, kPage, virtue::Prot::from_bits(kR)), efault);
    c.expect("map_direct_map", as.map(0xffff830000000000ull, mem, 0, kPage, virtue::Prot::from_bits(kR)), efault);
    c.expect("map_crossing_top", as.map(0x7ffffffff000ull, mem, 0, 2 * kPage, virtue::Prot::from_bits(kR)), efault);
    c.expect("map_offset_beyond", as.map(base + 0x10000, mem, 4 * kPage, kPage, virtue::Prot::from_bits(kR)), erange);
    c.expect("map_size_beyond", as.map(base + 0x10000, mem, 2 * kPage, 3 * kPage, virtue::Prot::from_bits(kR)), erange);
    c.expect("map_bad_handle", sys::aspace_map(0, base + 0x10000, mem.get(), 0, kPage, kR), ebadf);
    uint64_t foreign = (as.get() & ~(0x7fffull << 40)) | (((as.get() >> 40) + 1) & 0x7fff) << 40;
    c.expect("map_foreign_aspace", sys::aspace_map(foreign, base + 0x10000, mem.get(), 0, kPage, kR), exdev);
    uint64_t foreign_mem = (mem.get() & ~(0x7fffull << 40)) | (((mem.get() >> 40) + 1) & 0x7fff) << 40;
    c.expect("map_foreign_memory", sys::aspace_map(as.get(), base + 0x10000, foreign_mem, 0, kPage, kR), exdev);
    c.expect("map_wrong_type_aspace", sys::aspace_map(mem.get(), base + 0x10000, mem.get(), 0, kPage, kR), enodev);
    c.expect("map_wrong_type_memory", sys::aspace_map(as.get(), base + 0x10000, as.get(), 0, kPage, kR), enodev);
    virtue::Handle ro_mem;
    c.expect("dup_memory_read_only", mem.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ | VIRTUE_RIGHT_MAP), ro_mem), 0);
    c.expect("map_write_without_right", sys::aspace_map(as.get(), base + 0x10000, ro_mem.get(), 0, kPage, kRW), eacces);
    c.expect("map_exec_without_right",
             sys::aspace_map(as.get(), base + 0x10000, ro_mem.get(), 0, kPage, kR | VIRTUE_PROT_EXEC), eacces);
    virtue::Handle nomap_mem;
    c.expect("dup_memory_no_map", mem.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), nomap_mem), 0);
    c.expect("map_without_map_right", sys::aspace_map(as.get(), base + 0x10000, nomap_mem.get(), 0, kPage, kR), eacces);
    virtue::Handle ro_as;
    c.expect("dup_aspace_read_only", as.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), ro_as), 0);
    c.expect("map_aspace_without_right", sys::aspace_map(ro_as.get(), base + 0x10000, mem.get(), 0, kPage, kR), eacces);

    // A read-only alias of the same frames; protect cannot exceed the handle's rights.
    const uint64_t alias = base + 0x10000;
    c.expect("map_alias_read_only", sys::aspace_map(as.get(), alias, ro_mem.get(), 0, 4 * kPage, kR), 0);
    c.expect_true("alias_shares_frames", *word(alias) == 0x1111 && *word(alias + 3 * kPage) == 0x4444);
    c.expect("protect_beyond_rights", as.protect(alias, kPage, virtue::Prot::from_bits(kRW)), eacces);
    c.expect("protect_exec_beyond_rights", as.protect(alias, kPage, virtue::Prot::from_bits(kR | VIRTUE_PROT_EXEC)), eacces);
    c.expect("protect_hole", as.protect(base, 8 * kPage, virtue::Prot::from_bits(kR)), enoent);
    c.expect("protect_unaligned", as.protect(base + 1, kPage, virtue::Prot::from_bits(kR)), einval);
    c.expect("protect_map_flag", as.protect(base, kPage, virtue::Prot::from_bits(kR | VIRTUE_MAP_SMALL_PAGES)), einval);
    c.expect("protect_hypervisor", as.protect(0xffff800000000000ull, kPage, virtue::Prot::from_bits(kR)), efault);
    c.expect("protect_wrong_type", sys::aspace_protect(mem.get(), base, kPage, kR), enodev);
    c.expect("protect_read_only", as.protect(base, 4 * kPage, virtue::Prot::from_bits(kR)), 0);
    c.expect("protect_back_to_rw", as.protect(base, 4 * kPage, virtue::Prot::from_bits(kRW)), 0);
    *word(base + kPage) = 0x2222;
    c.expect_true("protect_rw_writes", *word(alias + kPage) == 0x2222);

    // Accessed/dirty bits (4 KiB pages so each page has its own).
    virtue::Memory bits_mem;
    c.expect("create_bits", virtue::Memory::create(16, bits_mem), 0);
    const uint64_t bva = base + 0x100000;
    c.expect("map_small_pages", as.map(bva, bits_mem, 0, 16 * kPage, virtue::Prot::from_bits(kRW | VIRTUE_MAP_SMALL_PAGES)), 0);
    static uint8_t bitmap[8];
    c.expect("dirty_clear", as.read_bits(bva, 16 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR), bitmap), 0);
    *word(bva + 1 * kPage) = 1;
    *word(bva + 5 * kPage) = 5;
    (void)*word(bva + 9 * kPage); // read only: accessed, not dirty
    memset(bitmap, 0xff, sizeof bitmap);
    c.expect("dirty_count", as.read_bits(bva, 16 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), bitmap), 2);
    c.expect_true("dirty_bitmap", bitmap[0] == 0x22 && bitmap[1] == 0);
    c.expect("dirty_clear_again", as.read_bits(bva, 16 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR), bitmap), 2);
    c.expect("dirty_after_clear", as.read_bits(bva, 16 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), bitmap), 0);
    *word(bva + 5 * kPage) = 6; // dirty again once the TLB entry was flushed
    c.expect("dirty_sets_again", as.read_bits(bva, 16 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), bitmap), 1);
    c.expect_true("dirty_bitmap_again", bitmap[0] == 0x20);
    c.expect("accessed_clear", as.read_bits(bva, 16 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_ACCESSED | VIRTUE_BITS_CLEAR), bitmap),
             3);
    (void)*word(bva + 9 * kPage);
    c.expect("accessed_one", as.read_bits(bva, 16 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_ACCESSED), bitmap), 1);
    c.expect_true("accessed_bitmap", bitmap[1] == 0x02);
    c.expect("bits_hole_is_zero", as.read_bits(bva + 16 * kPage, 8 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), bitmap), 0);
    c.expect("bits_both_flags", as.read_bits(bva, kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY | VIRTUE_BITS_ACCESSED), bitmap), einval);
    c.expect("bits_no_flag", as.read_bits(bva, kPage, virtue::BitsFlags::from_bits(0), bitmap), einval);
    c.expect("bits_unknown_flag", as.read_bits(bva, kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY | 0x100), bitmap), einval);
    c.expect("bits_too_big", as.read_bits(bva, (4ull << 30) + kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), bitmap), einval);
    c.expect("bits_bitmap_kernel",
             as.read_bits(bva, kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), reinterpret_cast<uint8_t*>(0xffff830000000000ull)), efault);
    c.expect("bits_bitmap_read_only",
             as.read_bits(bva, kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), reinterpret_cast<uint8_t*>(alias)), efault);
    c.expect("bits_clear_without_map_right",
             sys::aspace_read_bits(ro_as.get(), bva, kPage, VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR, bitmap), eacces);
    c.expect("bits_read_with_read_right", sys::aspace_read_bits(ro_as.get(), bva, kPage, VIRTUE_BITS_DIRTY, bitmap),
             0);

    // Large pages: a 512-page region at a 2 MiB-aligned address.
    virtue::Memory big;
    c.expect("create_2m", virtue::Memory::create(512, big), 0);
    const uint64_t lva = base + 0x40000000;
    c.expect("map_2m", as.map(lva, big, 0, 512 * kPage, virtue::Prot::from_bits(kRW)), 0);
    *word(lva + 100 * kPage) = 0x100;
    c.expect("clear_cutting_large_page", as.read_bits(lva, kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR), bitmap),
             einval);
    c.expect("large_page_dirty_is_shared", as.read_bits(lva, 8 * kPage, virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY), bitmap), 8);
    c.expect("unmap_splits_large_page", as.unmap(lva + 200 * kPage, kPage), 0);
    c.expect_true("split_keeps_the_rest", *word(lva + 100 * kPage) == 0x100);
    c.expect("audit_after_split", sys::memory_audit(), 0);

    // aspace_unmap refusals; a hole is fine
    c.expect("unmap_unaligned", as.unmap(base + 8, kPage), einval);
    c.expect("unmap_zero", as.unmap(base, 0), einval);
    c.expect("unmap_hypervisor", as.unmap(0xffff800000000000ull, kPage), efault);
    c.expect("unmap_wrong_type", sys::aspace_unmap(mem.get(), base, kPage), enodev);
    c.expect("unmap_without_right", sys::aspace_unmap(ro_as.get(), base, kPage), eacces);
    c.expect("unmap_hole", as.unmap(base + 0x200000, 16 * kPage), 0);

    // Closing a mapped region: its frames live on while mapped.
    c.expect("audit_mapped", sys::memory_audit(), 0);
    mem.reset();
    ro_mem.reset();
    nomap_mem.reset();
    c.expect_true("closed_region_still_mapped", *word(alias + 3 * kPage) == 0x4444);
    c.expect("audit_orphans", sys::memory_audit(), 0);
    c.expect("unmap_orphans", as.unmap(base, 4 * kPage), 0);
    c.expect("unmap_orphan_alias", as.unmap(alias, 4 * kPage), 0);
    c.expect("unmap_bits", as.unmap(bva, 16 * kPage), 0);
    c.expect("unmap_2m", as.unmap(lva, 512 * kPage), 0);
    bits_mem.reset();
    big.reset();
    c.expect("audit_all_gone", sys::memory_audit(), 0);
    c.expect_true("all_frames_back", free_bytes() == free0);

    // Address spaces: create, map into one that is not loaded, bound.
    {
        virtue::AddressSpace other;
        c.expect("aspace_create", virtue::AddressSpace::create(other), 0);
        c.expect("query_aspace", other.query(hi), 0);
        c.expect_true("aspace_type", hi.type == VIRTUE_OBJ_ADDRESS_SPACE);
        virtue::Memory m2;
        c.expect("create_for_other", virtue::Memory::create(2, m2), 0);
        c.expect("map_other", other.map(base, m2, 0, 2 * kPage, virtue::Prot::from_bits(kRW)), 0);
        c.expect("unmap_other_part", other.unmap(base, kPage), 0);
        c.expect("audit_other", sys::memory_audit(), 0);
        // Closing the address space with a mapping left: frames come back.
    }
    c.expect_true("aspace_frames_back", free_bytes() == free0);
    virtue::AddressSpace spaces[32];
    int made = 0;
    int64_t last = 0;
    for (auto& s : spaces) {
        last = virtue::AddressSpace::create(s).raw();
        if (last < 0) break;
        made++;
    }
    c.expect("aspace_limit", last, -XEN_ENOSPC);
    c.expect_true("aspace_limit_is_31_more", made == 31);
    for (auto& s : spaces) s.reset();
    c.expect_true("aspaces_freed", free_bytes() == free0);
    c.expect("audit_end", sys::memory_audit(), 0);
    print("memory: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

// ---- tlb: shootdown across CPUs ----

constexpr uint64_t kTlbVa = 0x200000000ull;
constexpr unsigned kMaxReaders = 63;
volatile uint64_t g_epoch = 0;
volatile uint64_t g_expected = 0;
volatile uint64_t g_ack[kMaxReaders + 1];
volatile uint64_t g_stale = 0;
volatile bool g_tlb_go = false;
volatile bool g_tlb_stop = false;
uint64_t g_aspace = 0;

int tlb_reader(unsigned index) {
    virtue::Memory own;
    if (virtue::Memory::create(1, own).raw() < 0) virtue::panic("reader %u: no memory", index);
    const uint64_t own_va = kTlbVa + 0x10000000ull * index;
    uint64_t seen = 0;
    for (;;) {
        uint64_t e;
        while ((e = __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE)) == seen && !g_tlb_stop) {}
        if (g_tlb_stop) break;
        seen = e;
        uint64_t v = *word(kTlbVa); // through whatever this CPU's TLB holds
        if (v != g_expected) __atomic_add_fetch(&g_stale, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&g_ack[index], e, __ATOMIC_RELEASE);
        // Concurrent edits of the same address space from this CPU.
        if (sys::aspace_map(g_aspace, own_va, own.get(), 0, kPage, kRW) == 0) {
            *word(own_va) = e;
            sys::aspace_unmap(g_aspace, own_va, kPage);
        }
    }
    return 0;
}

void do_tlb(uint64_t rounds) {
    virtue_domain_info info{};
    sys::domain_info(&info);
    const unsigned readers = info.vcpus - 1;
    if (readers == 0 || readers > kMaxReaders) virtue::panic("tlb needs 2..64 vcpus");
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    g_aspace = as.get();
    virtue::Memory regions[2];
    for (unsigned i = 0; i < 2; i++) {
        if (virtue::Memory::create(1, regions[i]).raw() < 0) virtue::panic("tlb: no memory");
        (void)as.map(kTlbVa + 0x1000 * (i + 1), regions[i], 0, kPage, virtue::Prot::from_bits(kRW)); // to fill them
        *word(kTlbVa + 0x1000 * (i + 1)) = 0xA000 + i;
        (void)as.unmap(kTlbVa + 0x1000 * (i + 1), kPage);
    }
    g_tlb_go = true;
    for (uint64_t r = 1; r <= rounds; r++) {
        const unsigned which = r % 2;
        if (r > 1) (void)as.unmap(kTlbVa, kPage);
        if (as.map(kTlbVa, regions[which], 0, kPage, virtue::Prot::from_bits(kR)).raw() != 0) virtue::panic("tlb: map failed");
        g_expected = 0xA000 + which;
        __atomic_store_n(&g_epoch, r, __ATOMIC_RELEASE);
        for (unsigned i = 1; i <= readers; i++)
            while (__atomic_load_n(&g_ack[i], __ATOMIC_ACQUIRE) != r) {}
    }
    g_tlb_stop = true;
    int64_t audit = sys::memory_audit();
    print("tlb: %llu rounds, %u readers, %llu stale reads, audit %lld\n", static_cast<unsigned long long>(rounds),
          readers, static_cast<unsigned long long>(g_stale), static_cast<long long>(audit));
    if (g_stale || audit) g_failed = true;
}

// ---- mmfuzz: random operations against a model ----

struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dull;
    }
    uint64_t below(uint64_t n) { return next() % n; }
};

constexpr uint64_t kWindow = 0x300000000ull; // the fuzzed range: kSlots pages
constexpr unsigned kSlots = 2048;            // 8 MiB of address space
constexpr unsigned kRegions = 8;

struct FuzzRegion {
    virtue::Memory mem;
    uint64_t pages = 0;
    bool writable = true; // the handle's rights
};
struct Slot {
    int region = -1; // -1: unmapped
    uint64_t page = 0;
    bool write = false;
};
FuzzRegion g_regions[kRegions];
Slot g_slots[kSlots];
uint64_t g_stamps[kRegions][64]; // what page p of region r holds (pages < 64 are stamped)

// Threads of the fuzz: what each may be doing, as far as the model knows.
enum class FuzzState { None, New, Running, Suspended, Killed };
enum FuzzKind : uint64_t { kSpin, kSleep, kReturn };
struct FuzzThread {
    virtue::Thread t;
    FuzzState state = FuzzState::None;
    FuzzKind kind = kSpin;
    bool in_other = false;
    int64_t kill_status = 0;
};
constexpr unsigned kFuzzThreads = 6;
FuzzThread g_threads[kFuzzThreads];
constexpr uint64_t kOtherStacks = 0x500000000ull; // in the second address space, 4 pages each
constexpr uint64_t kStackPages = 4;

// kSpin spins (yielding now and then), kSleep sleeps in 1 ms steps,
// kReturn exits at once with its kind. Runs in either address space.
int64_t fuzz_body(void* arg) {
    const auto kind = static_cast<FuzzKind>(reinterpret_cast<uint64_t>(arg));
    if (kind == kReturn) return kReturn;
    volatile uint64_t n = 0;
    for (;;) {
        n = n + 1;
        if (kind == kSleep) sys::sleep_until(sys::system_time() + 1'000'000);
        else if (n % 256 == 0) sys::yield();
    }
}

// One random thread operation on slot `ft`; checks what the call returns
// against what the model allows.
template <typename Fail>
void fuzz_thread_op(Rng& rng, FuzzThread& ft, unsigned slot, const virtue::AddressSpace& other, Fail fail) {
    const unsigned op = static_cast<unsigned>(rng.below(10));
    // A kReturn thread may have exited whenever it was started.
    const bool may_have_exited = ft.kind == kReturn && ft.state == FuzzState::Running;
    const int64_t esrch = -XEN_ESRCH;
    auto either = [&](int64_t rc, int64_t a, const char* what) {
        if (rc != a && !(may_have_exited && rc == esrch)) fail(what, rc);
    };
    if (ft.state == FuzzState::None) {
        ft.kind = static_cast<FuzzKind>(rng.below(3));
        ft.in_other = rng.below(2);
        void* arg = reinterpret_cast<void*>(uint64_t{ft.kind});
        int64_t rc = (ft.in_other ? virtue::Thread::create_in(other, fuzz_body, arg,
                                                              kOtherStacks + (slot + 1) * kStackPages * kPage, ft.t)
                                  : virtue::Thread::create(fuzz_body, arg, ft.t, 16 * 1024))
                         .raw();
        if (rc == 0) ft.state = FuzzState::New;
        else if (rc != -XEN_ENOMEM && rc != -XEN_ENOSPC && rc != -XEN_EMFILE) fail("thread_create", rc);
        return;
    }
    switch (op) {
    case 0:
    case 1: { // start
        int64_t rc = ft.t.start().raw();
        if (ft.state == FuzzState::New) {
            if (rc != 0) fail("thread_start", rc);
            else ft.state = FuzzState::Running;
        } else if (rc != -XEN_EBUSY) {
            fail("thread_start twice", rc);
        }
        break;
    }
    case 2: { // suspend: returns once stopped
        int64_t rc = ft.t.suspend().raw();
        if (ft.state == FuzzState::New) {
            if (rc != -XEN_EINVAL) fail("suspend of a new thread", rc);
        } else if (ft.state == FuzzState::Killed) {
            if (rc != 0 && rc != esrch) fail("suspend of a killed thread", rc);
        } else {
            either(rc, 0, "thread_suspend");
            if (rc == 0) ft.state = FuzzState::Suspended;
        }
        break;
    }
    case 3: { // resume
        int64_t rc = ft.t.resume().raw();
        if (ft.state == FuzzState::New) {
            if (rc != -XEN_EINVAL) fail("resume of a new thread", rc);
        } else if (ft.state == FuzzState::Killed) {
            if (rc != 0 && rc != esrch) fail("resume of a killed thread", rc);
        } else {
            either(rc, 0, "thread_resume");
            if (rc == 0) ft.state = FuzzState::Running;
        }
        break;
    }
    case 4: { // registers: readable exactly when stopped
        virtue_thread_regs r{};
        int64_t rc = ft.t.read_regs(r).raw();
        if (ft.state == FuzzState::New || ft.state == FuzzState::Suspended) {
            if (ft.state == FuzzState::Suspended && ft.kind == kReturn) {
                if (rc != 0 && rc != esrch) fail("read_regs of a stopped thread", rc);
            } else if (rc != 0) {
                fail("read_regs of a stopped thread", rc);
            }
            if (rc == 0 && r.rip >= 0x800000000000ull) fail("read_regs rip", static_cast<int64_t>(r.rip));
        } else if (rc != -XEN_EBUSY && rc != esrch && !(ft.state == FuzzState::Running && rc == 0)) {
            fail("read_regs of a running thread", rc);
        }
        break;
    }
    case 5: { // priority and affinity: allowed in every state
        if (int64_t rc = ft.t.set_priority(rng.below(16)).raw(); rc != 0) fail("thread_set_priority", rc);
        uint64_t cpu = rng.below(3) == 2 ? VIRTUE_CPU_ANY : rng.below(2);
        if (int64_t rc = ft.t.set_affinity(cpu).raw(); rc != 0) fail("thread_set_affinity", rc);
        break;
    }
    case 6:
    case 7: { // kill
        int64_t status = -static_cast<int64_t>(rng.below(1000)) - 1;
        int64_t rc = sys::thread_kill(ft.t.get(), static_cast<uint64_t>(status));
        if (ft.state == FuzzState::New) {
            if (rc != -XEN_EINVAL) fail("kill of a new thread", rc);
        } else if (ft.state == FuzzState::Killed) {
            if (rc != 0 && rc != esrch) fail("kill twice", rc);
        } else {
            if (rc != 0 && !(ft.kind == kReturn && rc == esrch)) fail("thread_kill", rc);
            if (rc == 0 && ft.state != FuzzState::Killed) ft.kill_status = status;
            ft.state = FuzzState::Killed;
            if (rc != 0) ft.kill_status = kReturn;
        }
        break;
    }
    case 8: { // join: at once for a killed thread, a poll otherwise
        int64_t status = 0;
        if (ft.state == FuzzState::Killed) {
            int64_t rc = ft.t.join(sys::system_time() + 5'000'000'000ll, &status).raw();
            if (rc != 0) fail("join of a killed thread", rc);
            else if (status != ft.kill_status && status != kReturn) fail("status of a killed thread", status);
        } else {
            int64_t rc = ft.t.join(0, &status).raw();
            bool exited = ft.kind == kReturn && ft.state != FuzzState::New && rc == 0 && status == kReturn;
            if (rc != -XEN_ETIMEDOUT && !exited) fail("join poll", rc);
        }
        break;
    }
    default: { // close (after ending it: a closed thread would spin for ever)
        if (ft.state == FuzzState::Running || ft.state == FuzzState::Suspended) {
            sys::thread_kill(ft.t.get(), 0);
            if (int64_t rc = ft.t.join(sys::system_time() + 5'000'000'000ll).raw(); rc != 0) fail("join before close", rc);
        }
        ft.t.reset();
        ft.state = FuzzState::None;
        break;
    }
    }
}

template <typename Fail>
void mmfuzz_step(Rng& rng, virtue::AddressSpace& as, virtue::AddressSpace& other, uint64_t& stamp,
                 uint64_t& threads_made, Fail fail, uint64_t n);

void do_mmfuzz(uint64_t ops) {
    Rng rng{0x9e3779b97f4a7c15ull};
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    const uint64_t free0 = free_bytes();
    uint64_t failures = 0;
    auto fail = [&](const char* what, int64_t rc) {
        if (failures++ < 20) print("mmfuzz: FAIL %s (%lld)\n", what, static_cast<long long>(rc));
    };
    // The second address space: a copy of this image, stacks for threads.
    uint64_t threads_made = 0;
    {
        virtue::AddressSpace other;
        virtue::Memory image, stacks;
        if (int64_t rc = virtue::AddressSpace::create(other).raw(); rc < 0) fail("aspace_create", rc);
        if (int64_t rc = virtue::fork_image(other, image).raw(); rc < 0) fail("fork_image", rc);
        if (int64_t rc = virtue::Memory::create(kFuzzThreads * kStackPages, stacks).raw(); rc < 0) fail("stacks", rc);
        if (int64_t rc = other.map(kOtherStacks, stacks, 0, kFuzzThreads * kStackPages * kPage, virtue::Prot::from_bits(kRW)).raw(); rc < 0)
            fail("map stacks", rc);
        uint64_t stamp = 1;
        for (uint64_t n = 0; n < ops; n++)
            mmfuzz_step(rng, as, other, stamp, threads_made, fail, n);
        for (unsigned i = 0; i < kFuzzThreads; i++) { // end every thread
            FuzzThread& ft = g_threads[i];
            if (ft.state == FuzzState::Running || ft.state == FuzzState::Suspended) sys::thread_kill(ft.t.get(), 0);
            if (ft.state != FuzzState::None && ft.state != FuzzState::New &&
                ft.t.join(sys::system_time() + 5'000'000'000ll).raw() != 0)
                fail("final join", i);
            ft.t.reset();
            ft.state = FuzzState::None;
        }
    }
    int64_t audit = sys::memory_audit();
    (void)as.unmap(kWindow, kSlots * kPage);
    for (auto& r : g_regions) {
        r.mem.reset();
        r.pages = 0;
    }
    for (auto& s : g_slots) s = Slot{};
    // An exited thread lets go of its address space when the scheduler has
    // switched away from it, just after join returns: wait for that.
    int64_t left = 0;
    for (int tries = 0; tries < 100; tries++) {
        left = static_cast<int64_t>(free0) - static_cast<int64_t>(free_bytes());
        if (left == 0) break;
        sys::sleep_until(sys::system_time() + 10'000'000);
    }
    print("mmfuzz: %llu ops, %llu failures, audit %lld, %lld bytes not returned, %llu threads\n",
          static_cast<unsigned long long>(ops), static_cast<unsigned long long>(failures),
          static_cast<long long>(audit), static_cast<long long>(left), static_cast<unsigned long long>(threads_made));
    if (failures || audit || left || !threads_made) g_failed = true;
}

template <typename Fail>
void mmfuzz_step(Rng& rng, virtue::AddressSpace& as, virtue::AddressSpace& other, uint64_t& stamp,
                 uint64_t& threads_made, Fail fail, uint64_t n) {
    {
        const unsigned op = static_cast<unsigned>(rng.below(125));
        if (op >= 100) {
            if (op < 120) { // a thread call
                const unsigned slot = static_cast<unsigned>(rng.below(kFuzzThreads));
                const bool was_empty = g_threads[slot].state == FuzzState::None;
                fuzz_thread_op(rng, g_threads[slot], slot, other, fail);
                if (was_empty && g_threads[slot].state == FuzzState::New) threads_made++;
            } else { // map or unmap one of the regions in the other address space
                FuzzRegion& R = g_regions[rng.below(kRegions)];
                const uint64_t s0 = rng.below(kSlots - 16);
                if (rng.below(2) && R.pages) {
                    int64_t rc = other.map(kWindow + s0 * kPage, R.mem, 0, (R.pages < 16 ? R.pages : 16) * kPage,
                                           virtue::Prot::from_bits(R.writable ? kRW : kR)).raw();
                    if (rc != 0 && rc != -XEN_EEXIST && rc != -XEN_ENOMEM) fail("map in the other space", rc);
                } else {
                    int64_t rc = other.unmap(kWindow + s0 * kPage, 16 * kPage).raw();
                    if (rc != 0 && rc != -XEN_ENOMEM) fail("unmap in the other space", rc);
                }
            }
            if (n % 64 == 63) {
                int64_t a = sys::memory_audit();
                if (a != 0) fail("audit", a);
            }
            return;
        }
        const unsigned ri = static_cast<unsigned>(rng.below(kRegions));
        FuzzRegion& R = g_regions[ri];
        const unsigned s0 = static_cast<unsigned>(rng.below(kSlots));
        const unsigned len = 1 + static_cast<unsigned>(rng.below(s0 + 16 < kSlots ? 16 : kSlots - s0));
        if (op < 12) { // (re)create a region; mappings of the old one stay
            const uint64_t pages = rng.below(4) == 0 ? 512 : 1 + rng.below(48);
            virtue::Memory m;
            int64_t rc = virtue::Memory::create(pages, m).raw();
            if (rc == 0) {
                if (R.pages) {
                    for (auto& s : g_slots) // keep the model's view of the orphans
                        if (s.region == static_cast<int>(ri)) s.region = static_cast<int>(kRegions + ri);
                }
                R.writable = rng.below(4) != 0;
                if (!R.writable) {
                    virtue::Handle ro;
                    (void)m.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ | VIRTUE_RIGHT_MAP), ro);
                    R.mem = virtue::Memory(ro.release());
                } else {
                    R.mem = static_cast<virtue::Memory&&>(m);
                }
                R.pages = pages;
                for (auto& st : g_stamps[ri]) st = 0;
            } else if (rc != -XEN_ENOMEM && rc != -XEN_EMFILE) {
                fail("memory_create", rc);
            }
        } else if (op < 45) { // map
            if (!R.pages) return;
            const uint64_t first = rng.below(R.pages);
            const uint64_t count = len < R.pages - first ? len : R.pages - first;
            const bool write = rng.below(2) && R.writable;
            bool busy = false;
            for (unsigned k = 0; k < count; k++) busy |= g_slots[s0 + k].region >= 0;
            uint64_t prot = (write ? kRW : kR) | (rng.below(3) == 0 ? VIRTUE_MAP_SMALL_PAGES : 0);
            int64_t rc = as.map(kWindow + s0 * kPage, R.mem, first * kPage, count * kPage, virtue::Prot::from_bits(prot)).raw();
            int64_t want = busy ? -XEN_EEXIST : 0;
            if (rc != want && !(rc == -XEN_ENOMEM && !busy)) fail("map", rc);
            if (rc == 0)
                for (unsigned k = 0; k < count; k++) g_slots[s0 + k] = Slot{static_cast<int>(ri), first + k, write};
        } else if (op < 70) { // unmap
            int64_t rc = as.unmap(kWindow + s0 * kPage, len * kPage).raw();
            if (rc != 0 && rc != -XEN_ENOMEM) fail("unmap", rc);
            if (rc == 0)
                for (unsigned k = 0; k < len; k++) g_slots[s0 + k] = Slot{};
        } else if (op < 85) { // protect
            const bool write = rng.below(2);
            bool hole = false, allowed = true;
            for (unsigned k = 0; k < len; k++) {
                const Slot& s = g_slots[s0 + k];
                hole |= s.region < 0;
                if (s.region >= 0 && write && !g_regions[s.region % kRegions].writable && s.region < int(kRegions))
                    allowed = false;
            }
            int64_t rc = as.protect(kWindow + s0 * kPage, len * kPage, virtue::Prot::from_bits(write ? kRW : kR)).raw();
            if (hole) {
                if (rc != -XEN_ENOENT && rc != -XEN_EACCES) fail("protect of a hole", rc);
            } else if (!allowed) {
                if (rc != -XEN_EACCES) fail("protect beyond rights", rc);
            } else if (rc == 0) {
                for (unsigned k = 0; k < len; k++) g_slots[s0 + k].write = write;
            } else if (rc != -XEN_EACCES && rc != -XEN_ENOMEM) {
                fail("protect", rc); // EACCES: an orphan of a read-only region
            }
        } else if (op < 90) { // dirty bits
            static uint8_t bm[kSlots / 8];
            int64_t rc = as.read_bits(kWindow + s0 * kPage, len * kPage,
                                      virtue::BitsFlags::from_bits(VIRTUE_BITS_DIRTY | (rng.below(2) ? VIRTUE_BITS_CLEAR : 0)), bm).raw();
            if (rc < 0 && rc != -XEN_EINVAL) fail("read_bits", rc);
        } else if (op < 95) { // write a stamp through a writable slot, read it everywhere
            Slot& s = g_slots[s0];
            if (s.region < 0 || s.region >= int(kRegions) || !s.write || s.page >= 64) return;
            *word(kWindow + s0 * kPage) = ++stamp;
            g_stamps[s.region][s.page] = stamp;
        } else if (op < 97) { // hostile handles
            uint64_t junk = rng.next();
            int64_t rc = sys::aspace_map(junk, kWindow, R.mem.get(), 0, kPage, kR);
            if (rc >= 0) fail("map with a junk handle", rc);
            rc = sys::aspace_unmap(R.mem.get() ? R.mem.get() : 1, kWindow, kSlots * kPage);
            if (rc >= 0 && R.mem.get()) fail("unmap through a memory handle", rc);
        } else { // close a region: its mapped frames live on
            if (!R.pages) return;
            for (auto& s : g_slots)
                if (s.region == static_cast<int>(ri)) s.region = static_cast<int>(kRegions + ri);
            R.mem.reset();
            R.pages = 0;
        }
        // Every mapped, stamped page of a live region reads its stamp.
        for (unsigned probe = 0; probe < 4; probe++) {
            const unsigned k = static_cast<unsigned>(rng.below(kSlots));
            const Slot& s = g_slots[k];
            if (s.region < 0 || s.region >= int(kRegions) || s.page >= 64) return;
            if (*word(kWindow + k * kPage) != g_stamps[s.region][s.page]) fail("content differs from the model", k);
        }
        if (n % 64 == 63) {
            int64_t a = sys::memory_audit();
            if (a != 0) fail("audit", a);
        }
    }
}

// ---- longcalls: long calls stop at safe points and continue ----
//
// The domain has one CPU. A watcher thread shares it with a worker that
// makes long calls on a 256 MiB region (memory_create, aspace_map with
// 4 KiB pages, aspace_read_bits, aspace_protect, aspace_unmap). The watcher
// can run while the worker is inside a call only if the call was
// preempted and will be continued; it then looks for the call's half-done
// state with probes that change nothing:
//   memory_create   the partition's free bytes between before and after;
//   aspace_map      the first page mapped writable, the last not mapped
//                   (domain_info writes its answer into the page: 0 or
//                   -EFAULT);
//   aspace_read_bits the first byte of the bitmap written, the last one
//                   not yet (both start as 0xaa);
//   aspace_protect  (RW to R) the first page read-only, the last writable;
//   aspace_unmap    the first page gone, the last still mapped (its
//                   accessed bit, read without clearing);
//   handle_close    of a mapped address space and of the region: the
//                   free bytes between before and after (the frames go
//                   back in steps on the closing thread's way out).
// An observation counts only if the worker's phase and sequence number
// were the same before and after the probes. Each call's result is then
// checked in full, and the memory audit must find nothing. Last, a worker
// killed while a memory_create of it is preempted gives every frame back.
// Prints "longcalls: create <c> map <m> bits <b> protect <p> unmap <u>
// preempted, kill <k>" and "longcalls: <n> checks, <m> failed".
enum LongPhase : uint64_t { kIdle, kCreate, kMap, kBits, kProtect, kUnmap, kCloseAspace, kCloseRegion, kKill, kStop, kPhases };

struct LongWatch {
    volatile uint64_t phase = kIdle;
    volatile uint64_t seq = 0;
    volatile uint64_t seen[kPhases] = {};
    volatile uint64_t free_before = 0, region_bytes = 0;
    volatile uint64_t free_gain = 0; // kClose*: what the close gives back in all
    volatile uint64_t victim = 0; // kKill: the thread handle to kill once half done
    volatile uint64_t killed = 0;
    uint64_t base = 0, size = 0;
    volatile uint8_t* bitmap = nullptr;
    uint64_t bitmap_bytes = 0;
    uint64_t aspace = 0;
};

LongWatch g_long;

int64_t writable_probe(uint64_t page) {
    // Into the second half of the page: the worker's stamps are at its start.
    return sys::domain_info(reinterpret_cast<virtue_domain_info*>(page + kPage / 2));
}

int64_t accessed_probe(uint64_t page) {
    uint8_t bit = 0;
    return sys::aspace_read_bits(g_long.aspace, page, kPage, VIRTUE_BITS_ACCESSED, &bit);
}

bool half_done(uint64_t phase) {
    LongWatch& w = g_long;
    const uint64_t first = w.base, last = w.base + w.size - kPage;
    switch (phase) {
    case kCreate:
    case kKill: {
        const uint64_t f = free_bytes();
        return f < w.free_before && f > w.free_before - w.region_bytes;
    }
    case kCloseAspace:
    case kCloseRegion: {
        const uint64_t f = free_bytes();
        return f > w.free_before && f < w.free_before + w.free_gain;
    }
    case kMap: return writable_probe(first) == 0 && writable_probe(last) == -XEN_EFAULT;
    case kBits: {
        // Zeroed from the front first, then the bits set from the front:
        // the last byte (0xc0 at the end) is 0xaa or 0 before.
        const uint8_t last_byte = w.bitmap[w.bitmap_bytes - 1];
        return w.bitmap[0] != 0xaa && (last_byte == 0xaa || last_byte == 0);
    }
    case kProtect: return writable_probe(first) == -XEN_EFAULT && writable_probe(last) == 0;
    case kUnmap: return accessed_probe(first) == 0 && accessed_probe(last) == 1;
    default: return false;
    }
}

int64_t long_watcher(void*) {
    LongWatch& w = g_long;
    for (;;) {
        const uint64_t phase = w.phase, seq = w.seq;
        if (phase == kStop) return 0;
        const bool half = half_done(phase);
        if (!half || w.phase != phase || w.seq != seq) continue;
        w.seen[phase] = w.seen[phase] + 1;
        if (phase == kKill && w.victim && !w.killed) {
            w.killed = sys::thread_kill(w.victim, 7) == 0 ? 1 : 2;
        }
    }
}

// Enters a phase, runs one call, leaves the phase.
template <typename Fn> int64_t in_phase(uint64_t phase, Fn fn) {
    g_long.phase = phase;
    const int64_t rc = fn();
    g_long.seq = g_long.seq + 1;
    g_long.phase = kIdle;
    return rc;
}

int64_t create_forever(void*) {
    for (;;) {
        const int64_t h = sys::memory_create(g_long.region_bytes / kPage, 0);
        if (h >= 0) sys::handle_close(static_cast<uint64_t>(h));
    }
}

void do_longcalls() {
    Checks c;
    LongWatch& w = g_long;
    constexpr uint64_t kPages = 65536; // 256 MiB
    w.base = 0x200000000ull;           // 8 GiB: nothing of the image there
    w.size = kPages * kPage;
    w.region_bytes = kPages * kPage;
    w.bitmap_bytes = kPages / 8;
    static uint8_t bitmap[kPages / 8];
    w.bitmap = bitmap;
    virtue::AddressSpace as;
    c.expect("lc_aspace_self", virtue::AddressSpace::self(as), 0);
    w.aspace = as.get();
    const uint64_t free0 = free_bytes();

    virtue::Thread watcher;
    c.expect("lc_watcher", virtue::Thread::create(long_watcher, nullptr, watcher), 0);
    c.expect("lc_watcher_start", watcher.start(), 0);

    // memory_create, until the watcher has seen one half done.
    int64_t region = -1;
    for (unsigned i = 0; i < 12; i++) {
        if (region >= 0) sys::handle_close(static_cast<uint64_t>(region));
        w.free_before = free_bytes();
        region = in_phase(kCreate, [&] { return sys::memory_create(kPages, 0); });
        if (region < 0 || w.seen[kCreate]) break;
    }
    c.expect_true("lc_create", region >= 0);
    if (region < 0) region = 0;
    uint64_t mem = static_cast<uint64_t>(region);
    // Every frame zeroed, the right number taken (the frame list: 64
    // index frames and a directory).
    c.expect_true("lc_create_took_its_frames", free_bytes() == free0 - (kPages + 64 + 1) * kPage);
    {
        bool zero = true;
        c.expect("lc_map_for_zero_check", sys::aspace_map(w.aspace, w.base, mem, 0, w.size, kR), 0);
        for (uint64_t p = 0; p < kPages; p += 61) zero = zero && *word(w.base + p * kPage + (p % 512) * 8) == 0;
        c.expect_true("lc_created_frames_are_zero", zero);
        c.expect("lc_unmap_after_zero_check", sys::aspace_unmap(w.aspace, w.base, w.size), 0);
    }

    unsigned rounds = 0;
    bool results_ok = true;
    for (; rounds < 30; rounds++) {
        if (w.seen[kMap] && w.seen[kBits] && w.seen[kProtect] && w.seen[kUnmap]) break;
        // map: every page, 4 KiB leaves
        const int64_t m = in_phase(kMap, [&] {
            return sys::aspace_map(w.aspace, w.base, mem, 0, w.size, kRW | VIRTUE_MAP_SMALL_PAGES);
        });
        if (m != 0) {
            c.expect("lc_map", m, 0);
            break;
        }
        // The mapping is whole and right: every 7th page and the last one
        // written (the watcher's probes may write the first and the last),
        // read back through the region's frames' order (page p holds p).
        auto written = [](uint64_t p) { return p % 7 == 0 || p == kPages - 1; };
        for (uint64_t p = 0; p < kPages; p++)
            if (written(p)) *word(w.base + p * kPage) = p;
        // read_bits: the dirty pages are exactly those written
        memset(bitmap, 0xaa, sizeof bitmap);
        const int64_t set = in_phase(kBits, [&] {
            return sys::aspace_read_bits(w.aspace, w.base, w.size, VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR, bitmap);
        });
        if (set != static_cast<int64_t>((kPages + 6) / 7 + 1)) results_ok = false;
        for (uint64_t p = 0; p < kPages && results_ok; p++)
            if (((bitmap[p / 8] >> (p % 8)) & 1) != (written(p) ? 1 : 0)) results_ok = false;
        // protect: read-only
        const int64_t pr = in_phase(kProtect, [&] { return sys::aspace_protect(w.aspace, w.base, w.size, kR); });
        if (pr != 0) results_ok = false;
        for (uint64_t p = 0; p < kPages; p++)
            if (written(p) && *word(w.base + p * kPage) != p) results_ok = false;
        if (writable_probe(w.base + w.size - kPage) != -XEN_EFAULT) results_ok = false;
        // unmap: everything (the first and last page read: accessed)
        (void)*word(w.base);
        (void)*word(w.base + w.size - kPage);
        const int64_t u = in_phase(kUnmap, [&] { return sys::aspace_unmap(w.aspace, w.base, w.size); });
        if (u != 0) results_ok = false;
        if (accessed_probe(w.base) != 0 || accessed_probe(w.base + w.size - kPage) != 0) results_ok = false;
        if (sys::memory_audit() != 0) results_ok = false;
    }
    c.expect_true("lc_results_right_after_every_continued_call", results_ok);

    // Closing the last handle of a mapped address space, then of the
    // region: both give their frames back in steps before the closing
    // thread returns (to its next instruction, which sees them back).
    unsigned closes = 0;
    for (; closes < 12 && !(w.seen[kCloseAspace] && w.seen[kCloseRegion]); closes++) {
        const uint64_t before_map = free_bytes();
        virtue::AddressSpace other;
        c.expect("lc_other_aspace", virtue::AddressSpace::create(other), 0);
        const uint64_t with_root = free_bytes();
        c.expect("lc_other_map", sys::aspace_map(other.get(), w.base, mem, 0, w.size, kR | VIRTUE_MAP_SMALL_PAGES),
                 0);
        // Tables: one L3, one L2, 128 L1s (and the root, taken above).
        c.expect_true("lc_other_map_tables", free_bytes() == with_root - 130 * kPage);
        w.free_before = free_bytes();
        w.free_gain = 131 * kPage;
        const int64_t closed = in_phase(kCloseAspace, [&] { return sys::handle_close(other.release()); });
        c.expect("lc_close_aspace", closed, 0);
        c.expect_true("lc_close_aspace_gave_back", free_bytes() == before_map);
        if (w.seen[kCloseRegion]) continue;
        // The region goes too (and is made again for the next round).
        w.free_before = free_bytes();
        w.free_gain = (kPages + 65) * kPage;
        c.expect("lc_close_region", in_phase(kCloseRegion, [&] { return sys::handle_close(mem); }), 0);
        c.expect_true("lc_close_region_gave_back", free_bytes() == free0);
        const int64_t again = sys::memory_create(kPages, 0);
        c.expect_true("lc_recreate", again >= 0);
        if (again < 0) break;
        mem = static_cast<uint64_t>(again);
    }
    sys::handle_close(mem);
    c.expect_true("lc_frames_back", free_bytes() == free0);

    // A worker killed while its memory_create is preempted: the half-built
    // region goes back with it.
    unsigned kills = 0;
    for (; kills < 8 && w.killed != 1; kills++) {
        virtue::Thread worker;
        c.expect("lc_kill_worker", virtue::Thread::create(create_forever, nullptr, worker), 0);
        w.free_before = free_bytes();
        w.victim = worker.get();
        w.phase = kKill;
        c.expect("lc_kill_worker_start", worker.start(), 0);
        int64_t status = 0;
        (void)worker.join(sys::system_time() + 2'000'000'000ull, &status);
        if (!w.killed) (void)sys::thread_kill(worker.get(), 0), (void)worker.join(VIRTUE_DEADLINE_NONE);
        w.phase = kIdle;
        w.victim = 0;
    }
    c.expect("lc_killed_mid_create", w.killed, 1);

    // Two threads create regions that do not both fit: with preemption
    // they interleave, so one (or both) may find the partition used up
    // half-way. At most one succeeds each round, the other fails with
    // -ENOMEM, and every frame of a loser (and then of the winner, closed)
    // comes back.
    bool race_ok = true;
    unsigned both_lost = 0;
    for (unsigned round = 0; round < 4; round++) {
        static volatile int64_t results[2];
        const uint64_t pages = free_bytes() / kPage * 6 / 10;
        auto racer = [](void* arg) -> int64_t {
            const uint64_t n = reinterpret_cast<uint64_t>(arg) >> 1;
            results[reinterpret_cast<uint64_t>(arg) & 1] = sys::memory_create(n, 0);
            return 0;
        };
        virtue::Thread a, b;
        const bool made = virtue::Thread::create(racer, reinterpret_cast<void*>(pages << 1), a).ok() &&
                          virtue::Thread::create(racer, reinterpret_cast<void*>((pages << 1) | 1), b).ok();
        if (!made || !a.start().ok() || !b.start().ok()) {
            race_ok = false;
            break;
        }
        (void)a.join(VIRTUE_DEADLINE_NONE);
        (void)b.join(VIRTUE_DEADLINE_NONE);
        const int ok = (results[0] >= 0) + (results[1] >= 0);
        const int enomem = (results[0] == -XEN_ENOMEM) + (results[1] == -XEN_ENOMEM);
        if (ok + enomem != 2 || ok > 1) race_ok = false;
        if (enomem == 2) both_lost++;
        for (unsigned i = 0; i < 2; i++)
            if (results[i] >= 0) sys::handle_close(static_cast<uint64_t>(results[i]));
        if (free_bytes() != free0 || sys::memory_audit() != 0) race_ok = false;
    }
    c.expect_true("lc_racing_creates_at_most_one_wins_nothing_lost", race_ok);
    print("longcalls: racing creates: both lost in %u of 4 rounds\n", both_lost);
    c.expect_true("lc_killed_worker_gave_everything_back", free_bytes() == free0);
    c.expect("lc_audit", sys::memory_audit(), 0);

    w.phase = kStop;
    c.expect("lc_watcher_join", watcher.join(VIRTUE_DEADLINE_NONE), 0);
    c.expect_true("lc_create_preempted", w.seen[kCreate] > 0);
    c.expect_true("lc_map_preempted", w.seen[kMap] > 0);
    c.expect_true("lc_read_bits_preempted", w.seen[kBits] > 0);
    c.expect_true("lc_protect_preempted", w.seen[kProtect] > 0);
    c.expect_true("lc_unmap_preempted", w.seen[kUnmap] > 0);
    c.expect_true("lc_aspace_release_preempted", w.seen[kCloseAspace] > 0);
    c.expect_true("lc_region_release_preempted", w.seen[kCloseRegion] > 0);
    print("longcalls: create %lu map %lu bits %lu protect %lu unmap %lu close-aspace %lu close-region %lu "
          "preempted, kill %lu, %u rounds, %u closes\n",
          static_cast<unsigned long>(w.seen[kCreate]), static_cast<unsigned long>(w.seen[kMap]),
          static_cast<unsigned long>(w.seen[kBits]), static_cast<unsigned long>(w.seen[kProtect]),
          static_cast<unsigned long>(w.seen[kUnmap]), static_cast<unsigned long>(w.seen[kCloseAspace]),
          static_cast<unsigned long>(w.seen[kCloseRegion]), static_cast<unsigned long>(w.seen[kKill]), rounds,
          closes);
    print("longcalls: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

} // namespace

int thread_main(unsigned index) {
    while (!g_tlb_go) sys::yield();
    return tlb_reader(index);
}

int main() {
    for (size_t i = 0; i < virtue::arg_count(); i++) {
        const char* w = virtue::arg(i);
        const char* v;
        if (!strcmp(w, "checks")) do_checks();
        else if (!strncmp(w, "tlb=", 4)) do_tlb(strtoul(w + 4, nullptr, 0));
        else if (!strncmp(w, "mmfuzz=", 7)) do_mmfuzz(strtoul(w + 7, nullptr, 0));
        else if (!strcmp(w, "longcalls")) do_longcalls();
        else {
            v = w;
            print("memory-test: unknown action '%s'\n", v);
            return 2;
        }
    }
    print("memory-test: done\n");
    return g_failed ? 1 : 0;
}
