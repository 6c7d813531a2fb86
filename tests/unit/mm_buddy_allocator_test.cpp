// Buddy allocator: splitting, coalescing, misuse detection, and a long
// randomized run against a shadow model.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "mm/buddy_allocator.hpp"

using namespace virtue;

namespace {

constexpr unsigned MAX = BuddyAllocator::MAX_ORDER;

struct Machine {
    std::vector<FrameInfo> entries;
    FrameTable table;
    BuddyAllocator buddy;

    explicit Machine(uint64_t frames) : entries(frames) {
        BOOST_REQUIRE(table.init(entries.data(), frames).ok());
        BOOST_REQUIRE(buddy.init(table).ok());
    }
    std::vector<unsigned char> snapshot() const {
        std::vector<unsigned char> s(entries.size() * sizeof(FrameInfo));
        std::memcpy(s.data(), entries.data(), s.size());
        return s;
    }
    void require_ok() { BOOST_REQUIRE(buddy.check_invariants().ok()); }
};

// Free blocks per order that add_free_range must produce for [first, end).
std::vector<uint64_t> maximal_blocks(uint64_t first, uint64_t end) {
    std::vector<uint64_t> per_order(MAX + 1, 0);
    while (first < end) {
        unsigned o = MAX;
        while (o > 0 && ((first & ((1ull << o) - 1)) != 0 || first + (1ull << o) > end)) --o;
        ++per_order[o];
        first += 1ull << o;
    }
    return per_order;
}

void check_blocks(const BuddyAllocator& b, const std::vector<uint64_t>& expect) {
    for (unsigned o = 0; o <= MAX; ++o) BOOST_TEST(b.free_blocks(o) == expect[o], "order " << o);
}

} // namespace

BOOST_AUTO_TEST_SUITE(buddy_allocator)

BOOST_AUTO_TEST_CASE(starts_with_no_ram) {
    Machine m(64);
    BOOST_TEST(m.buddy.free_frames() == 0u);
    BOOST_TEST(m.buddy.total_frames() == 0u);
    BOOST_TEST(m.buddy.alloc(0, 1).error() == Err::NoMemory);
    auto c = m.table.census();
    BOOST_REQUIRE(c.ok());
    BOOST_TEST(c->io == 64u);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(init_requires_an_initialised_table) {
    FrameTable empty;
    BuddyAllocator b;
    BOOST_TEST(b.init(empty).error() == Err::InvalidArgument);
    BOOST_TEST(b.alloc(0, 1).error() == Err::InvalidArgument);
    BOOST_TEST(b.add_free_range(Mfn(0), 1).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(add_range_splits_into_maximal_aligned_blocks) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(3), 29).ok()); // [3, 32)
    std::vector<uint64_t> expect(MAX + 1, 0);
    expect[0] = 1; // 3
    expect[2] = 1; // 4..7
    expect[3] = 1; // 8..15
    expect[4] = 1; // 16..31
    check_blocks(m.buddy, expect);
    BOOST_TEST(m.buddy.free_frames() == 29u);
    BOOST_TEST(m.buddy.total_frames() == 29u);
    BOOST_TEST(m.entries[3].owner == DOMID_FREE);
    BOOST_TEST(m.entries[2].owner == DOMID_IO);
    BOOST_TEST(m.entries[32].owner == DOMID_IO);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(adjacent_ranges_coalesce) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 8).ok());
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(9), 7).ok()); // 9, 10-11, 12-15
    BOOST_TEST(m.buddy.free_blocks(3) == 1u);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(8), 1).ok()); // fills the gap
    std::vector<uint64_t> expect(MAX + 1, 0);
    expect[4] = 1;
    check_blocks(m.buddy, expect);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(16), 48).ok());
    expect[4] = 0;
    expect[6] = 1;
    check_blocks(m.buddy, expect);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(20), 0).ok()); // empty: no-op
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(add_range_refuses_bad_ranges_without_change) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(16), 16).ok());
    auto mfn = m.buddy.alloc(0, 1);
    BOOST_REQUIRE(mfn.ok());
    const auto before = m.snapshot();
    BOOST_TEST(m.buddy.add_free_range(Mfn(60), 5).error() == Err::Range);
    BOOST_TEST(m.buddy.add_free_range(Mfn(65), 0).error() == Err::Range);
    BOOST_TEST(m.buddy.add_free_range(Mfn(1), ~0ull).error() == Err::Range);
    BOOST_TEST(m.buddy.add_free_range(Mfn(8), 10).error() == Err::Overlap);  // touches free frames
    BOOST_TEST(m.buddy.add_free_range(*mfn, 1).error() == Err::Overlap);      // allocated frame
    BOOST_TEST(m.buddy.add_free_range(Mfn(31), 2).error() == Err::Overlap);
    m.entries[40].ref_count = 1; // a not-RAM frame someone references
    auto with_ref = m.snapshot();
    BOOST_TEST(m.buddy.add_free_range(Mfn(36), 8).error() == Err::Busy);
    BOOST_TEST(m.snapshot() == with_ref);
    m.entries[40].ref_count = 0;
    BOOST_TEST(m.snapshot() == before);
    BOOST_TEST(m.buddy.free_frames() == 15u);
    BOOST_TEST(m.buddy.total_frames() == 16u);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(exhaustion_and_full_recovery) {
    constexpr uint64_t N = 2048, FIRST = 5, END = 2043;
    Machine m(N);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(FIRST), END - FIRST).ok());
    const auto initial = maximal_blocks(FIRST, END);
    check_blocks(m.buddy, initial);

    std::vector<bool> seen(N, false);
    std::vector<uint64_t> got;
    for (;;) {
        auto r = m.buddy.alloc(0, 7);
        if (!r) {
            BOOST_TEST(r.error() == Err::NoMemory);
            break;
        }
        BOOST_REQUIRE(r->raw() >= FIRST);
        BOOST_REQUIRE(r->raw() < END);
        BOOST_REQUIRE(!seen[r->raw()]);
        seen[r->raw()] = true;
        got.push_back(r->raw());
    }
    BOOST_TEST(got.size() == END - FIRST);
    BOOST_TEST(m.buddy.free_frames() == 0u);
    BOOST_TEST(m.buddy.alloc(0, 7).error() == Err::NoMemory);
    BOOST_TEST(m.table.count_owner(7) == END - FIRST);
    m.require_ok();

    // Free in a scrambled order: coalescing must still rebuild every block.
    std::mt19937_64 rng(42);
    std::shuffle(got.begin(), got.end(), rng);
    for (uint64_t f : got) BOOST_REQUIRE(m.buddy.free(Mfn(f), 0).ok());
    BOOST_TEST(m.buddy.free_frames() == END - FIRST);
    check_blocks(m.buddy, initial);
    auto c = m.table.census();
    BOOST_REQUIRE(c.ok());
    BOOST_TEST(c->free == END - FIRST);
    BOOST_TEST(c->domain == 0u);
    BOOST_TEST(c->io == N - (END - FIRST));
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(every_order_is_naturally_aligned) {
    constexpr uint64_t N = uint64_t{1} << 19;
    Machine m(N);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(1), N - 1).ok()); // frame 0 kept out
    for (unsigned o = 0; o <= MAX; ++o) {
        auto r = m.buddy.alloc(o, DOMID_XEN);
        BOOST_REQUIRE_MESSAGE(r.ok(), "order " << o);
        const uint64_t f = r->raw();
        BOOST_TEST((f & ((1ull << o) - 1)) == 0u, "order " << o);
        BOOST_TEST(f + (1ull << o) <= N);
        BOOST_TEST(m.entries[f].owner == DOMID_XEN);
        BOOST_TEST(m.entries[f + (1ull << o) - 1].owner == DOMID_XEN);
        BOOST_TEST((m.entries[f].flags & FRAME_ALLOC_HEAD) != 0);
        BOOST_TEST(m.entries[f].order == o);
        BOOST_REQUIRE(m.buddy.free(Mfn(f), o).ok());
    }
    // Exactly one aligned 1 GiB block exists (the other half lacks frame 0).
    auto big = m.buddy.alloc(MAX, 2);
    BOOST_REQUIRE(big.ok());
    BOOST_TEST(big->raw() == 1ull << 18);
    BOOST_TEST(m.buddy.alloc(MAX, 2).error() == Err::NoMemory);
    BOOST_TEST(m.table.count_owner(2) == 1ull << 18);
    m.require_ok();
    BOOST_REQUIRE(m.buddy.free(*big, MAX).ok());
    BOOST_TEST(m.buddy.free_frames() == N - 1);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(rejects_bad_alloc_arguments) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 64).ok());
    const auto before = m.snapshot();
    BOOST_TEST(m.buddy.alloc(MAX + 1, 1).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.alloc(0, DOMID_FREE).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.alloc(0, DOMID_IO).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.alloc(0, DOMID_SELF).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.alloc(0, DOMID_COW).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.alloc_below(0, Mfn(64), DOMID_FREE).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.alloc(7, 1).error() == Err::NoMemory); // 128 > 64 frames
    BOOST_TEST(m.snapshot() == before);
}

BOOST_AUTO_TEST_CASE(double_free_is_refused) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 64).ok());
    auto a = m.buddy.alloc(2, 1);
    auto b = m.buddy.alloc(0, 1);
    BOOST_REQUIRE(a.ok());
    BOOST_REQUIRE(b.ok());
    BOOST_REQUIRE(m.buddy.free(*a, 2).ok());
    const auto before = m.snapshot();
    const uint64_t free_before = m.buddy.free_frames();
    BOOST_TEST(m.buddy.free(*a, 2).error() == Err::DoubleFree);
    BOOST_TEST(m.buddy.free(*a + 1, 0).error() == Err::DoubleFree); // inside a free block
    BOOST_TEST(m.buddy.free(Mfn(40), 3).error() == Err::DoubleFree); // never allocated
    BOOST_TEST(m.snapshot() == before);
    BOOST_TEST(m.buddy.free_frames() == free_before);
    m.require_ok();
    BOOST_REQUIRE(m.buddy.free(*b, 0).ok());
    BOOST_TEST(m.buddy.free_blocks(6) == 1u);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(wrong_order_or_interior_frame_is_refused) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 64).ok());
    auto a = m.buddy.alloc(2, 1);
    BOOST_REQUIRE(a.ok());
    const auto before = m.snapshot();
    BOOST_TEST(m.buddy.free(*a, 1).error() == Err::InvalidArgument);     // smaller order
    BOOST_TEST(m.buddy.free(*a, 0).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.free(*a + 1, 0).error() == Err::InvalidArgument); // interior frame
    BOOST_TEST(m.buddy.free(*a + 2, 1).error() == Err::InvalidArgument); // interior, aligned
    BOOST_TEST(m.buddy.free(*a + 1, 2).error() == Err::InvalidArgument); // misaligned
    BOOST_TEST(m.buddy.free(Mfn(a->raw() & ~7ull), 3).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.free(*a, MAX + 1).error() == Err::InvalidArgument);
    BOOST_TEST(m.snapshot() == before);
    BOOST_REQUIRE(m.buddy.free(*a, 2).ok());
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(frames_never_added_cannot_be_freed) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 32).ok());
    const auto before = m.snapshot();
    BOOST_TEST(m.buddy.free(Mfn(40), 0).error() == Err::InvalidArgument); // not RAM
    BOOST_TEST(m.buddy.free(Mfn(32), 5).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.free(Mfn(64), 0).error() == Err::Range);
    BOOST_TEST(m.buddy.free(Mfn(~0ull), 0).error() == Err::Range);
    BOOST_TEST(m.buddy.free(Mfn(0), 7).error() == Err::Range); // block past the end
    BOOST_TEST(m.snapshot() == before);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(referenced_frames_are_busy) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 64).ok());
    auto a = m.buddy.alloc(1, 3);
    BOOST_REQUIRE(a.ok());
    m.entries[a->raw() + 1].ref_count = 1;
    auto before = m.snapshot();
    BOOST_TEST(m.buddy.free(*a, 1).error() == Err::Busy);
    BOOST_TEST(m.snapshot() == before);
    m.entries[a->raw() + 1].ref_count = 0;
    m.entries[a->raw()].type = PageType::L1;
    m.entries[a->raw()].type_count = 2;
    before = m.snapshot();
    BOOST_TEST(m.buddy.free(*a, 1).error() == Err::Busy);
    BOOST_TEST(m.snapshot() == before);
    m.entries[a->raw()].type_count = 0; // type lingers with count 0, as in Xen
    BOOST_REQUIRE(m.buddy.free(*a, 1).ok());
    BOOST_TEST((m.entries[a->raw()].type == PageType::None));
    BOOST_TEST(m.buddy.free_frames() == 64u);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(alloc_below_respects_the_limit) {
    Machine m(0x2000);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0x100), 0x100).ok());
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0x1000), 0x1000).ok());
    BOOST_TEST(m.buddy.alloc_below(9, Mfn(0x200), 1).error() == Err::NoMemory); // 512 > 256
    BOOST_TEST(m.buddy.alloc_below(0, Mfn(0x100), 1).error() == Err::NoMemory);
    BOOST_TEST(m.buddy.alloc_below(0, Mfn(0), 1).error() == Err::NoMemory);
    auto low = m.buddy.alloc_below(8, Mfn(0x200), 1); // exactly fits
    BOOST_REQUIRE(low.ok());
    BOOST_TEST(low->raw() == 0x100u);
    BOOST_TEST(m.buddy.alloc_below(0, Mfn(0x1000), 1).error() == Err::NoMemory);
    auto part = m.buddy.alloc_below(2, Mfn(0x1003), 1); // block must end below
    BOOST_TEST(part.error() == Err::NoMemory);
    auto four = m.buddy.alloc_below(2, Mfn(0x1004), 1);
    BOOST_REQUIRE(four.ok());
    BOOST_TEST(four->raw() == 0x1000u);
    for (int i = 0; i < 100; ++i) {
        auto r = m.buddy.alloc_below(0, Mfn(0x1400), 1);
        BOOST_REQUIRE(r.ok());
        BOOST_TEST(r->raw() >= 0x1004u);
        BOOST_TEST(r->raw() < 0x1400u);
    }
    m.require_ok();
    BOOST_REQUIRE(m.buddy.free(*low, 8).ok());
    BOOST_REQUIRE(m.buddy.free(*four, 2).ok());
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(assign_range_records_boot_ram) {
    Machine m(64);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 16).ok());
    BOOST_REQUIRE(m.buddy.assign_range(Mfn(16), 4, DOMID_XEN).ok()); // e.g. the image
    BOOST_TEST(m.buddy.assign_range(Mfn(18), 4, DOMID_XEN).error() == Err::Overlap);
    BOOST_TEST(m.buddy.assign_range(Mfn(8), 1, DOMID_XEN).error() == Err::Overlap);
    BOOST_TEST(m.buddy.assign_range(Mfn(30), 1, DOMID_FREE).error() == Err::InvalidArgument);
    BOOST_TEST(m.buddy.assign_range(Mfn(62), 3, 0).error() == Err::Range);
    BOOST_TEST(m.buddy.total_frames() == 20u);
    BOOST_TEST(m.buddy.free_frames() == 16u);
    auto c = m.table.census();
    BOOST_REQUIRE(c.ok());
    BOOST_TEST(c->hypervisor == 4u);
    m.require_ok();
    // Released one by one, they join the free memory and coalesce.
    BOOST_TEST(m.buddy.free(Mfn(16), 2).error() == Err::InvalidArgument);
    for (uint64_t f = 16; f < 20; ++f) BOOST_REQUIRE(m.buddy.free(Mfn(f), 0).ok());
    BOOST_TEST(m.buddy.free_blocks(4) == 1u);
    BOOST_TEST(m.buddy.free_blocks(2) == 1u);
    BOOST_TEST(m.buddy.free_frames() == 20u);
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(census_proves_a_domain_gave_everything_back) {
    Machine m(4096);
    BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 4096).ok());
    std::vector<std::pair<Mfn, unsigned>> dom1, dom2;
    for (unsigned i = 0; i < 20; ++i) {
        auto a = m.buddy.alloc(i % 5, 1);
        auto b = m.buddy.alloc((i + 2) % 4, 2);
        BOOST_REQUIRE(a.ok());
        BOOST_REQUIRE(b.ok());
        dom1.push_back({*a, i % 5});
        dom2.push_back({*b, (i + 2) % 4});
    }
    uint64_t n1 = 0;
    for (auto& [f, o] : dom1) n1 += 1ull << o;
    BOOST_TEST(m.table.count_owner(1) == n1);
    for (auto& [f, o] : dom1) BOOST_REQUIRE(m.buddy.free(f, o).ok());
    BOOST_TEST(m.table.count_owner(1) == 0u);
    auto c = m.table.census();
    BOOST_REQUIRE(c.ok());
    BOOST_TEST(c->domain == m.table.count_owner(2));
    BOOST_TEST(c->free == m.buddy.free_frames());
    m.require_ok();
}

BOOST_AUTO_TEST_CASE(check_invariants_catches_corruption) {
    auto fresh = [] {
        auto m = std::make_unique<Machine>(64);
        BOOST_REQUIRE(m->buddy.add_free_range(Mfn(0), 48).ok()); // blocks at 0 (o5), 32 (o4)
        BOOST_REQUIRE(m->buddy.check_invariants().ok());
        return m;
    };
    {
        auto m = fresh();
        m->entries[32].order = 3; // recorded order differs from its list
        BOOST_TEST(m->buddy.check_invariants().error() == Err::BadFormat);
    }
    {
        auto m = fresh();
        m->entries[5].owner = 1; // a frame inside a free block is owned
        BOOST_TEST(m->buddy.check_invariants().error() == Err::BadFormat);
    }
    {
        auto m = fresh();
        m->entries[0].next = 0; // cycle
        BOOST_TEST(m->buddy.check_invariants().error() == Err::BadFormat);
    }
    {
        auto m = fresh();
        m->entries[0].next = 1000; // wild link
        BOOST_TEST(m->buddy.check_invariants().error() == Err::BadFormat);
    }
    {
        auto m = fresh();
        m->entries[50].owner = DOMID_FREE; // a free frame on no list
        BOOST_TEST(m->buddy.check_invariants().error() == Err::BadFormat);
    }
    {
        // Two free order-3 buddies left uncoalesced.
        Machine m(16);
        BOOST_REQUIRE(m.buddy.add_free_range(Mfn(0), 16).ok());
        auto a = m.buddy.alloc(3, 1);
        auto b = m.buddy.alloc(3, 1);
        BOOST_REQUIRE(a.ok());
        BOOST_REQUIRE(b.ok());
        BOOST_REQUIRE(m.buddy.free(*a, 3).ok());
        BOOST_REQUIRE(m.buddy.check_invariants().ok());
        // Forge b as a free block of order 3 on no list: the free counter
        // and list disagree, and the buddy pair is uncoalesced.
        for (uint64_t i = 0; i < 8; ++i) m.entries[b->raw() + i].owner = DOMID_FREE;
        m.entries[b->raw()].flags = FRAME_FREE_HEAD;
        BOOST_TEST(m.buddy.check_invariants().error() == Err::BadFormat);
    }
}

BOOST_AUTO_TEST_CASE(randomized_against_shadow_model) {
    constexpr uint64_t N = 8192;
    Machine m(N);
    // RAM with holes and odd edges.
    const std::pair<uint64_t, uint64_t> ram[] = {{1, 1500}, {1600, 3000}, {4096, 8000}};
    uint64_t ram_frames = 0;
    for (auto [first, end] : ram) {
        BOOST_REQUIRE(m.buddy.add_free_range(Mfn(first), end - first).ok());
        ram_frames += end - first;
    }
    std::vector<bool> is_ram(N, false);
    for (auto [first, end] : ram)
        for (uint64_t f = first; f < end; ++f) is_ram[f] = true;

    struct Block {
        unsigned order;
        domid_t owner;
    };
    std::map<uint64_t, Block> live; // shadow: allocated blocks
    std::vector<domid_t> shadow_owner(N, DOMID_IO);
    for (uint64_t f = 0; f < N; ++f)
        if (is_ram[f]) shadow_owner[f] = DOMID_FREE;
    uint64_t shadow_free = ram_frames;

    std::mt19937_64 rng(0x5eed);
    for (int op = 0; op < 20000; ++op) {
        const unsigned kind = rng() % 10;
        if (kind < 5 || live.empty()) {
            const unsigned order = (rng() % 4 == 0) ? rng() % 9 : rng() % 3;
            const domid_t owner = (rng() % 3 == 0) ? DOMID_XEN : domid_t(rng() % 4);
            Result<Mfn> r = (kind == 0) ? m.buddy.alloc_below(order, Mfn(3000), owner) : m.buddy.alloc(order, owner);
            if (!r) {
                BOOST_REQUIRE(r.error() == Err::NoMemory);
                continue;
            }
            const uint64_t f = r->raw();
            BOOST_REQUIRE((f & ((1ull << order) - 1)) == 0);
            if (kind == 0) BOOST_REQUIRE(f + (1ull << order) <= 3000);
            for (uint64_t i = 0; i < (1ull << order); ++i) {
                BOOST_REQUIRE(is_ram[f + i]);
                BOOST_REQUIRE(shadow_owner[f + i] == DOMID_FREE); // no overlap with live blocks
                shadow_owner[f + i] = owner;
                BOOST_REQUIRE(m.entries[f + i].owner == owner);
            }
            live[f] = {order, owner};
            shadow_free -= 1ull << order;
        } else if (kind < 9) {
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            const uint64_t f = it->first;
            const unsigned order = it->second.order;
            if (rng() % 8 == 0) { // misuse first: must be refused without change
                BOOST_REQUIRE(m.buddy.free(Mfn(f), order + 1).error() != Err::DoubleFree);
                if (order > 0) BOOST_REQUIRE(m.buddy.free(Mfn(f), order - 1).error() == Err::InvalidArgument);
            }
            BOOST_REQUIRE(m.buddy.free(Mfn(f), order).ok());
            BOOST_REQUIRE(m.buddy.free(Mfn(f), order).error() == Err::DoubleFree);
            for (uint64_t i = 0; i < (1ull << order); ++i) shadow_owner[f + i] = DOMID_FREE;
            shadow_free += 1ull << order;
            live.erase(it);
        } else {
            // A hostile free of a random frame: must not succeed unless it
            // names a live block exactly.
            const uint64_t f = rng() % (N + 16);
            const unsigned order = rng() % 4;
            auto it = live.find(f);
            if (it != live.end() && it->second.order == order) continue;
            BOOST_REQUIRE(!m.buddy.free(Mfn(f), order).ok());
        }
        BOOST_REQUIRE(m.buddy.free_frames() == shadow_free);
        if (op % 500 == 0) {
            BOOST_REQUIRE(m.buddy.check_invariants().ok());
            for (uint64_t f = 0; f < N; ++f) BOOST_REQUIRE(m.entries[f].owner == shadow_owner[f]);
        }
    }
    for (auto& [f, b] : live) BOOST_REQUIRE(m.buddy.free(Mfn(f), b.order).ok());
    BOOST_TEST(m.buddy.free_frames() == ram_frames);
    uint64_t blocks = 0;
    for (unsigned o = 0; o <= MAX; ++o) blocks += m.buddy.free_blocks(o);
    uint64_t expect_blocks = 0;
    for (auto [first, end] : ram)
        for (uint64_t n : maximal_blocks(first, end)) expect_blocks += n;
    BOOST_TEST(blocks == expect_blocks); // everything coalesced back
    m.require_ok();
}

BOOST_AUTO_TEST_SUITE_END()
