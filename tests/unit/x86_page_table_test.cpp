// x86-64 page-table editor on host memory: page-size choice, overlap and
// argument checks, splitting, table reclamation, atomicity under memory
// exhaustion, and a randomized run against a shadow map of every 4 KiB page.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "arch/page_table.hpp"

using namespace virtue;

namespace {

// Table frames from a host pool. "Physical" addresses are an offset map
// (not host pointers), so a confusion of the two cannot go unnoticed.
template <bool Has1G, bool KeepHighL3 = false>
class PoolPolicy {
  public:
    static constexpr uint64_t PHYS_BASE = 0x7700000000ull;

    explicit PoolPolicy(size_t frames = 64)
        : mem_(static_cast<unsigned char*>(std::aligned_alloc(4096, frames * 4096))), live_(frames, false) {
        std::memset(mem_, 0xEE, frames * 4096);
    }
    ~PoolPolicy() { std::free(mem_); }
    PoolPolicy(const PoolPolicy&) = delete;

    Result<PhysAddr> alloc_table() {
        if (budget == 0) return Err::NoMemory;
        for (size_t n = 0; n < live_.size(); ++n) {
            size_t i = (hint_ + n) % live_.size();
            if (live_[i]) continue;
            live_[i] = true;
            hint_ = i + 1;
            std::memset(mem_ + i * 4096, 0, 4096);
            ++live_count;
            ++allocs;
            if (budget > 0) --budget;
            return PhysAddr(PHYS_BASE + i * 4096);
        }
        return Err::NoMemory;
    }
    void free_table(PhysAddr p) {
        size_t i = index(p);
        if (!live_[i]) {
            ++bad_frees;
            return;
        }
        live_[i] = false;
        std::memset(mem_ + i * 4096, 0xEE, 4096); // poison: stale use shows
        --live_count;
    }
    uint64_t* table_ptr(PhysAddr p) {
        size_t i = index(p);
        if (!live_[i]) throw std::logic_error("editor touched a table that is not allocated");
        return reinterpret_cast<uint64_t*>(mem_ + i * 4096);
    }
    bool has_1g_pages() const { return Has1G; }
    bool keep_table(unsigned level, uint64_t va) const { return KeepHighL3 && level == 3 && (va >> 63) != 0; }

    // Every live table's bytes: "nothing changed" means this is identical.
    std::vector<unsigned char> snapshot() const {
        std::vector<unsigned char> s;
        for (size_t i = 0; i < live_.size(); ++i)
            if (live_[i]) s.insert(s.end(), mem_ + i * 4096, mem_ + (i + 1) * 4096);
        return s;
    }

    long budget = -1; // table allocations allowed (-1: unlimited)
    size_t live_count = 0, allocs = 0, bad_frees = 0;

  private:
    size_t index(PhysAddr p) const {
        if (p.raw() < PHYS_BASE || (p.raw() & 4095) || (p.raw() - PHYS_BASE) / 4096 >= live_.size())
            throw std::logic_error("not a table address");
        return (p.raw() - PHYS_BASE) / 4096;
    }
    unsigned char* mem_;
    std::vector<bool> live_;
    size_t hint_ = 0;
};

using Policy = PoolPolicy<true>;
using Policy2M = PoolPolicy<false>;

template <typename P>
struct Space {
    P policy;
    PhysAddr root;
    PageTableEditor<P> pt;
    explicit Space(size_t frames = 64) : policy(frames), root(take_root(policy)), pt(policy, root) {}
    static PhysAddr take_root(P& p) {
        auto r = p.alloc_table();
        BOOST_REQUIRE(r.ok());
        return *r;
    }
};

// BOOST_REQUIRE costs microseconds even when it passes; inner loops of the
// audit use this instead.
#define REQUIRE_FAST(cond)                                                     \
    do {                                                                       \
        if (!(cond)) BOOST_FAIL("check failed: " #cond);                       \
    } while (0)

struct Leaf {
    uint64_t va, size, pa, flags;
};
struct Mapping {
    uint64_t pa, flags;
    bool operator==(const Mapping&) const = default;
};

// Walks the whole tree: checks structure (every reachable table allocated
// and reached once, no empty tables below the root, intermediate entries
// at least as permissive as their leaves) and returns the leaves.
template <typename P>
struct Audit {
    P& policy;
    std::vector<Leaf> leaves;
    std::set<uint64_t> tables;

    void walk(PhysAddr t, unsigned level, uint64_t va_base, uint64_t path_attrs) {
        REQUIRE_FAST(tables.insert(t.raw()).second); // each table reached once
        const uint64_t* e = policy.table_ptr(t);
        bool empty = true;
        for (unsigned i = 0; i < 512; ++i) {
            if (e[i] == 0) continue;
            empty = false;
            REQUIRE_FAST((e[i] & pte::P) != 0); // never leaves non-present junk
            uint64_t va = va_base + uint64_t{i} * level_span(level);
            if (level == 4 && i >= 256) va |= 0xFFFF000000000000ull;
            const Pte p(e[i]);
            if (p.is_leaf(level)) {
                const uint64_t f = p.leaf_flags().raw();
                REQUIRE_FAST((path_attrs & pte::RW) != 0);
                if (f & pte::US) REQUIRE_FAST((path_attrs & pte::US) != 0);
                if (!(f & pte::NX)) REQUIRE_FAST((path_attrs & pte::NX) == 0);
                REQUIRE_FAST((e[i] & (level == 1 ? pte::PAT_4K : pte::PAT_LARGE)) == 0);
                leaves.push_back({va, level_span(level), p.leaf_addr(level).raw(), f});
            } else {
                REQUIRE_FAST(level > 1);
                const uint64_t attrs = (path_attrs & e[i] & (pte::RW | pte::US)) | ((path_attrs | e[i]) & pte::NX);
                walk(p.table(), level - 1, va, attrs);
            }
        }
        if (level != 4 && !policy.keep_table(level, va_base)) REQUIRE_FAST(!empty);
    }
};

template <typename P>
std::vector<Leaf> audit(Space<P>& s) {
    Audit<P> a{s.policy, {}, {}};
    a.walk(s.root, 4, 0, pte::RW | pte::US);
    REQUIRE_FAST(a.tables.size() == s.policy.live_count); // no leaked or stray tables
    REQUIRE_FAST(s.policy.bad_frees == 0u);
    return a.leaves;
}

constexpr uint64_t K4 = 0x1000, M2 = 0x200000, G1 = 0x40000000;
const PteFlags RW{pte::RW};
const PteFlags RW_NX{pte::RW | pte::NX};

template <typename P>
void require_translation(Space<P>& s, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags) {
    auto t = s.pt.lookup(va);
    BOOST_REQUIRE_MESSAGE(t.ok(), "lookup " << std::hex << va);
    BOOST_TEST(t->pa.raw() == pa, std::hex << "va " << va);
    BOOST_TEST(t->page_size == size, std::hex << "va " << va);
    BOOST_TEST(t->flags.raw() == (flags | pte::P), std::hex << "va " << va);
}

} // namespace

BOOST_AUTO_TEST_SUITE(x86_page_table)

BOOST_AUTO_TEST_CASE(pte_encoding) {
    BOOST_TEST(pte::ADDR_MASK == 0x000FFFFFFFFFF000ull);
    BOOST_TEST(pte::NX == 0x8000000000000000ull);
    BOOST_TEST(level_shift(4) == 39u);
    BOOST_TEST(level_index(0xFFFF800000000000ull, 4) == 256u);
    BOOST_TEST(level_index(0x1ff000, 1) == 511u);
    BOOST_TEST(is_canonical(0x00007FFFFFFFFFFFull));
    BOOST_TEST(!is_canonical(0x0000800000000000ull));
    BOOST_TEST(is_canonical(0xFFFF800000000000ull));
    BOOST_TEST(!is_canonical(0xFFFE800000000000ull));
    const Pte big = Pte::make_leaf(PhysAddr(0x40000000), RW, 2);
    BOOST_TEST(big.is_large(2));
    BOOST_TEST(!Pte(big.raw()).is_large(4)); // PS is reserved at level 4
    BOOST_TEST(Pte(big.raw() | pte::PAT_LARGE).leaf_addr(2).raw() == 0x40000000u);
    BOOST_TEST(!PteFlags(pte::PS).valid());
    BOOST_TEST(PteFlags(pte::SW0 | pte::SW2).valid()); // bits 9-11 are the software's
    BOOST_TEST(!PteFlags(1ull << 52).valid());
    BOOST_TEST((PteFlags(pte::RW) | PteFlags(pte::NX)).valid());
}

BOOST_AUTO_TEST_CASE(map_4k_and_lookup) {
    Space<Policy> s;
    auto r = s.pt.map(0x400000000ull, PhysAddr(0x12345000), K4, RW_NX);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(!r->needed); // filling holes needs no flush
    require_translation(s, 0x400000000ull, 0x12345000, K4, pte::RW | pte::NX);
    auto off = s.pt.lookup(0x400000abcull);
    BOOST_REQUIRE(off.ok());
    BOOST_TEST(off->pa.raw() == 0x12345abcu);
    BOOST_TEST(s.pt.lookup(0x400001000ull).error() == Err::NotFound);
    BOOST_TEST(s.pt.lookup(0x3FFFFF000ull).error() == Err::NotFound);
    BOOST_TEST(s.pt.lookup(0x0000800000000000ull).error() == Err::InvalidArgument);
    BOOST_TEST(s.policy.live_count == 4u); // root, L3, L2, L1
    audit(s);
}

BOOST_AUTO_TEST_CASE(map_2m_and_1g_leaves) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x600000, PhysAddr(0x80000000), M2, RW).ok());
    require_translation(s, 0x600000, 0x80000000, M2, pte::RW);
    require_translation(s, 0x7FF000, 0x801FF000, M2, pte::RW);
    BOOST_TEST(s.policy.live_count == 3u); // root, L3, L2

    BOOST_REQUIRE(s.pt.map(0x8000000000ull, PhysAddr(0x1C0000000ull), G1, RW_NX).ok());
    require_translation(s, 0x8000000000ull + 0x3456789, 0x1C0000000ull + 0x3456789, G1, pte::RW | pte::NX);
    BOOST_TEST(s.policy.live_count == 4u); // + one L3 for the 1 GiB leaf
    auto leaves = audit(s);
    BOOST_TEST(leaves.size() == 2u);
}

BOOST_AUTO_TEST_CASE(no_1g_pages_without_cpu_support) {
    Space<Policy2M> s;
    BOOST_REQUIRE(s.pt.map(G1, PhysAddr(G1), G1, RW).ok());
    require_translation(s, G1 + 0x12345, G1 + 0x12345, M2, pte::RW);
    auto leaves = audit(s);
    BOOST_TEST(leaves.size() == 512u);
    BOOST_TEST(s.policy.live_count == 3u);
}

BOOST_AUTO_TEST_CASE(large_pages_only_when_allowed_and_aligned) {
    {
        Space<Policy> s;
        BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x200000), M2, RW, MapOptions{false}).ok());
        require_translation(s, 0x3FF000, 0x3FF000, K4, pte::RW);
        BOOST_TEST(audit(s).size() == 512u);
    }
    {
        // va 2M-aligned but pa only 4K-aligned: 4 KiB pages.
        Space<Policy> s;
        BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x201000), M2, RW).ok());
        require_translation(s, 0x200000, 0x201000, K4, pte::RW);
        BOOST_TEST(audit(s).size() == 512u);
    }
}

BOOST_AUTO_TEST_CASE(mixed_sizes_at_unaligned_boundaries) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x1ff000, PhysAddr(0x1ff000), 0x401000 - 0x1ff000, RW).ok());
    auto leaves = audit(s);
    BOOST_REQUIRE(leaves.size() == 3u);
    BOOST_TEST(leaves[0].va == 0x1ff000u);
    BOOST_TEST(leaves[0].size == K4);
    BOOST_TEST(leaves[1].va == 0x200000u);
    BOOST_TEST(leaves[1].size == M2);
    BOOST_TEST(leaves[2].va == 0x400000u);
    BOOST_TEST(leaves[2].size == K4);
    BOOST_TEST(s.policy.live_count == 5u); // root, L3, L2, two L1s
    BOOST_TEST(s.pt.lookup(0x1fe000).error() == Err::NotFound);
    BOOST_TEST(s.pt.lookup(0x401000).error() == Err::NotFound);
}

BOOST_AUTO_TEST_CASE(upper_half_and_top_of_address_space) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0xFFFFFFFFFFFFF000ull, PhysAddr(0x5000), K4, RW).ok());
    require_translation(s, 0xFFFFFFFFFFFFFFFFull, 0x5FFF, K4, pte::RW);
    BOOST_REQUIRE(s.pt.map(0xFFFF800000000000ull, PhysAddr(0), M2, RW).ok());
    require_translation(s, 0xFFFF800000001000ull, 0x1000, M2, pte::RW);
    BOOST_TEST(s.pt.lookup(0xFFFF7FFFFFFFF000ull).error() == Err::InvalidArgument);
    audit(s);
    BOOST_REQUIRE(s.pt.unmap(0xFFFFFFFFFFFFF000ull, K4).ok());
    BOOST_REQUIRE(s.pt.unmap(0xFFFF800000000000ull, M2).ok());
    BOOST_TEST(s.policy.live_count == 1u);
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_refused) {
    Space<Policy> s;
    const auto before = s.policy.snapshot();
    auto map = [&](uint64_t va, uint64_t pa, uint64_t size, uint64_t flags = pte::RW) {
        return s.pt.map(va, PhysAddr(pa), size, PteFlags(flags)).error();
    };
    BOOST_TEST(map(0x1000, 0x1000, 0) == Err::InvalidArgument);
    BOOST_TEST(map(0x1800, 0x1000, K4) == Err::InvalidArgument);
    BOOST_TEST(map(0x1000, 0x1800, K4) == Err::InvalidArgument);
    BOOST_TEST(map(0x1000, 0x1000, 0x1800) == Err::InvalidArgument);
    BOOST_TEST(map(0x0000800000000000ull, 0, K4) == Err::InvalidArgument);   // non-canonical
    BOOST_TEST(map(0x00007FFFFFFFF000ull, 0, 2 * K4) == Err::InvalidArgument); // runs into the hole
    BOOST_TEST(map(0xFFFFFFFFFFFFF000ull, 0, 2 * K4) == Err::InvalidArgument); // wraps around
    BOOST_TEST(map(0x1000, 0, ~0xFFFull) == Err::InvalidArgument);
    BOOST_TEST(map(0x1000, 1ull << 52, K4) == Err::InvalidArgument);          // beyond MAXPHYADDR
    BOOST_TEST(map(0x1000, (1ull << 52) - K4, 2 * K4) == Err::InvalidArgument);
    BOOST_TEST(map(0x1000, 0x1000, K4, pte::RW | pte::PS) == Err::InvalidArgument);
    BOOST_TEST(map(0x1000, 0x1000, K4, pte::RW | (1ull << 52)) == Err::InvalidArgument); // AVL, not ours
    BOOST_TEST(map(0x1000, 0x1000, K4, pte::RW | 0x1000) == Err::InvalidArgument);      // address bits
    BOOST_TEST(s.pt.unmap(0x1800, K4).error() == Err::InvalidArgument);
    BOOST_TEST(s.pt.unmap(0x0000800000000000ull, K4).error() == Err::InvalidArgument);
    BOOST_TEST(s.pt.unmap(0x1000, 0).error() == Err::InvalidArgument);
    BOOST_TEST(s.pt.protect(0x1000, K4, PteFlags(pte::PS)).error() == Err::InvalidArgument);
    BOOST_TEST(s.pt.protect(0x0000800000000000ull, K4, RW).error() == Err::InvalidArgument);
    BOOST_TEST(s.policy.snapshot() == before);
    BOOST_TEST(s.policy.live_count == 1u);
}

BOOST_AUTO_TEST_CASE(overlap_is_refused_without_change) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x40000000), M2, RW).ok());
    BOOST_REQUIRE(s.pt.map(0x10000000, PhysAddr(0x1000), K4, RW).ok());
    const auto before = s.policy.snapshot();
    const size_t live = s.policy.live_count, allocs = s.policy.allocs;
    // Straddles the start of the 2 MiB leaf.
    BOOST_TEST(s.pt.map(0x1ff000, PhysAddr(0), 2 * K4, RW).error() == Err::Exists);
    // A 4 KiB page inside the 2 MiB leaf.
    BOOST_TEST(s.pt.map(0x300000, PhysAddr(0), K4, RW).error() == Err::Exists);
    // Same 2 MiB again.
    BOOST_TEST(s.pt.map(0x200000, PhysAddr(0x40000000), M2, RW).error() == Err::Exists);
    // A long fresh range whose last page collides: the fresh part, which
    // needs new tables, must not be mapped either.
    BOOST_TEST(s.pt.map(0x10001000 - 0x8000000, PhysAddr(0), 0x8000000, RW).error() == Err::Exists);
    // Covering an existing 4 KiB page with a would-be 2 MiB leaf.
    BOOST_TEST(s.pt.map(0x10000000, PhysAddr(0), M2, RW).error() == Err::Exists);
    BOOST_TEST(s.policy.snapshot() == before);
    BOOST_TEST(s.policy.live_count == live);
    BOOST_TEST(s.policy.allocs == allocs); // nothing was even reserved
    audit(s);
}

BOOST_AUTO_TEST_CASE(out_of_memory_changes_nothing) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x200000), K4, RW).ok());
    const auto before = s.policy.snapshot();
    const size_t live = s.policy.live_count;
    // Needs an L2 and an L1 below the existing L3, then an L3, an L2 and an
    // L1 across the PML4 boundary: five tables; only four are available.
    s.policy.budget = 4;
    BOOST_TEST(s.pt.map(0x8000000000ull - K4, PhysAddr(0), 2 * K4, RW).error() == Err::NoMemory);
    BOOST_TEST(s.policy.snapshot() == before);
    BOOST_TEST(s.policy.live_count == live); // the reserved tables went back
    s.policy.budget = 5;
    BOOST_REQUIRE(s.pt.map(0x8000000000ull - K4, PhysAddr(0), 2 * K4, RW).ok());
    BOOST_TEST(s.policy.live_count == live + 5);
    audit(s);
}

BOOST_AUTO_TEST_CASE(unmap_splits_a_2m_page) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x40000000), M2, PteFlags(pte::RW | pte::G)).ok());
    const size_t live = s.policy.live_count;
    auto r = s.pt.unmap(0x300000, K4);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->needed);
    BOOST_TEST(r->global);
    BOOST_TEST(s.policy.live_count == live + 1);
    BOOST_TEST(s.pt.lookup(0x300000).error() == Err::NotFound);
    require_translation(s, 0x200000, 0x40000000, K4, pte::RW | pte::G);
    require_translation(s, 0x2FF000, 0x400FF000, K4, pte::RW | pte::G);
    require_translation(s, 0x301000, 0x40101000, K4, pte::RW | pte::G);
    require_translation(s, 0x3FF000, 0x401FF000, K4, pte::RW | pte::G);
    BOOST_TEST(audit(s).size() == 511u);
}

BOOST_AUTO_TEST_CASE(unmap_refuses_marked_leaves_without_change) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x40000000), M2, PteFlags(pte::RW)).ok());
    BOOST_REQUIRE(s.pt.map(0x400000, PhysAddr(0x9000), K4, PteFlags(pte::RW | pte::SW2)).ok());
    const size_t live = s.policy.live_count;
    // The range splits the 2 MiB leaf and reaches the marked page: nothing
    // may change, not even the split.
    BOOST_TEST(s.pt.unmap(0x3FF000, 2 * K4, nullptr, nullptr, pte::SW2).error() == Err::Busy);
    BOOST_TEST(s.policy.live_count == live);
    require_translation(s, 0x3FF000, 0x401FF000, M2, pte::RW);
    require_translation(s, 0x400000, 0x9000, K4, pte::RW | pte::SW2);
    // Without the marked page in the range, or without `refuse`, it goes.
    BOOST_TEST(s.pt.unmap(0x200000, M2, nullptr, nullptr, pte::SW2).ok());
    BOOST_TEST(s.pt.unmap(0x400000, K4).ok());
    BOOST_TEST(s.pt.lookup(0x400000).error() == Err::NotFound);
}

BOOST_AUTO_TEST_CASE(unmap_reports_every_removed_translation) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x40000000), M2, PteFlags(pte::RW | pte::SW1)).ok());
    BOOST_REQUIRE(s.pt.map(0x400000, PhysAddr(0x9000), 2 * K4, PteFlags(pte::RW)).ok());
    struct Seen {
        std::vector<std::pair<uint64_t, uint64_t>> ranges;
        std::vector<uint64_t> flags;
    } seen;
    auto record = [](void* ctx, PhysAddr pa, uint64_t bytes, PteFlags f) {
        auto* v = static_cast<Seen*>(ctx);
        v->ranges.emplace_back(pa.raw(), bytes);
        v->flags.push_back(f.raw());
    };
    // Part of the 2 MiB leaf (split first) and the first 4 KiB page after it.
    auto r = s.pt.unmap(0x3FE000, 3 * K4, record, &seen);
    BOOST_REQUIRE(r.ok());
    BOOST_REQUIRE(seen.ranges.size() == 3u);
    BOOST_TEST(seen.ranges[0].first == 0x401FE000u);
    BOOST_TEST(seen.ranges[1].first == 0x401FF000u);
    BOOST_TEST(seen.ranges[2].first == 0x9000u);
    for (auto& [pa, bytes] : seen.ranges) BOOST_TEST(bytes == K4);
    BOOST_TEST((seen.flags[0] & pte::SW1) != 0); // software bits survive the split
    // A refused unmap reports nothing.
    seen.ranges.clear();
    BOOST_TEST(s.pt.unmap(0x3FF001, K4, record, &seen).error() == Err::InvalidArgument);
    BOOST_TEST(seen.ranges.empty());
}

BOOST_AUTO_TEST_CASE(visit_leaves_sees_each_overlapping_leaf_once) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x40000000), M2, PteFlags(pte::RW)).ok());
    BOOST_REQUIRE(s.pt.map(0x400000, PhysAddr(0x9000), 3 * K4, PteFlags(pte::RW)).ok());
    std::vector<std::pair<uint64_t, unsigned>> leaves;
    BOOST_REQUIRE(s.pt.visit_leaves(0x300000, 0x102000, [&](uint64_t va, uint64_t* e, unsigned level) {
        leaves.emplace_back(va, level);
        *e |= pte::D; // visitors may edit attributes
    }).ok());
    BOOST_REQUIRE(leaves.size() == 3u);
    BOOST_TEST(leaves[0].first == 0x200000u); // the large leaf starts below the range
    BOOST_TEST(leaves[0].second == 2u);
    BOOST_TEST(leaves[1].first == 0x400000u);
    BOOST_TEST(leaves[2].first == 0x401000u);
    BOOST_TEST(s.pt.lookup(0x401000)->flags.has(pte::D));
    BOOST_TEST(!s.pt.lookup(0x402000)->flags.has(pte::D)); // outside the range
    BOOST_TEST(s.pt.visit_leaves(0x1000, 0, [](uint64_t, uint64_t*, unsigned) {}).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(unmap_splits_a_1g_page_twice) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(G1, PhysAddr(2 * G1), G1, RW).ok());
    const size_t live = s.policy.live_count;
    const uint64_t hole = G1 + M2 + K4;
    BOOST_REQUIRE(s.pt.unmap(hole, K4).ok());
    BOOST_TEST(s.policy.live_count == live + 2); // an L2 and an L1
    BOOST_TEST(s.pt.lookup(hole).error() == Err::NotFound);
    require_translation(s, G1, 2 * G1, M2, pte::RW);
    require_translation(s, G1 + M2, 2 * G1 + M2, K4, pte::RW);
    require_translation(s, hole + K4, 2 * G1 + M2 + 2 * K4, K4, pte::RW);
    require_translation(s, 2 * G1 - 1, 3 * G1 - 1, M2, pte::RW);
    auto leaves = audit(s);
    BOOST_TEST(leaves.size() == 511u + 511u);
    // A range cutting both ends of one 1 GiB page: one L2, two L1s.
    Space<Policy> t;
    BOOST_REQUIRE(t.pt.map(G1, PhysAddr(2 * G1), G1, RW).ok());
    BOOST_REQUIRE(t.pt.unmap(G1 + K4, G1 - 2 * K4).ok());
    BOOST_TEST(t.policy.live_count == 2u + 3u);
    require_translation(t, G1, 2 * G1, K4, pte::RW);
    require_translation(t, 2 * G1 - K4, 3 * G1 - K4, K4, pte::RW);
    BOOST_TEST(audit(t).size() == 2u);
}

BOOST_AUTO_TEST_CASE(unmap_without_memory_for_a_split_changes_nothing) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(G1, PhysAddr(0), G1, RW).ok());
    const auto before = s.policy.snapshot();
    s.policy.budget = 1; // the split needs two tables
    BOOST_TEST(s.pt.unmap(G1 + M2 + K4, K4).error() == Err::NoMemory);
    BOOST_TEST(s.policy.snapshot() == before);
    BOOST_TEST(s.policy.live_count == 2u); // root, L3 holding the 1 GiB leaf
    s.policy.budget = 0;
    BOOST_TEST(s.pt.protect(G1, K4, PteFlags(pte::NX)).error() == Err::NoMemory);
    BOOST_TEST(s.policy.snapshot() == before);
    // Whole pages need no tables.
    BOOST_REQUIRE(s.pt.unmap(G1, G1).ok());
    BOOST_TEST(s.policy.live_count == 1u);
}

BOOST_AUTO_TEST_CASE(first_leaf_skips_holes_and_finds_covering_leaves) {
    Space<Policy> s;
    BOOST_TEST(s.pt.first_leaf(0, 0x0000800000000000ull).error() == Err::NotFound);
    BOOST_REQUIRE(s.pt.map(0x8000000000ull + 5 * K4, PhysAddr(0x1000), K4, RW).ok());
    BOOST_REQUIRE(s.pt.map(0x10000000000ull, PhysAddr(0x200000), M2, RW).ok());
    // Across 512 GiB of nothing, to the 4 KiB leaf.
    auto a = s.pt.first_leaf(0, 0x0000800000000000ull);
    BOOST_REQUIRE(a.ok());
    BOOST_TEST(*a == 0x8000000000ull + 5 * K4);
    // A range starting inside the 2 MiB leaf reports where the leaf starts.
    auto b = s.pt.first_leaf(0x10000000000ull + 7 * K4, K4);
    BOOST_REQUIRE(b.ok());
    BOOST_TEST(*b == 0x10000000000ull);
    // A range ending just before a leaf finds nothing.
    BOOST_TEST(s.pt.first_leaf(0x8000000000ull, 5 * K4).error() == Err::NotFound);
    BOOST_TEST(s.pt.first_leaf(K4, 0).error() == Err::InvalidArgument);
    BOOST_TEST(s.pt.first_leaf(0x0000800000000000ull, K4).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(split_at_keeps_every_translation) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(G1, PhysAddr(2 * G1), G1, RW).ok());
    BOOST_REQUIRE(s.pt.map(4 * G1, PhysAddr(M2), M2, RW_NX).ok());
    const size_t live = s.policy.live_count;
    // At a leaf's start, in a hole, or on 4 KiB leaves: nothing to do.
    BOOST_REQUIRE(s.pt.split_at(G1).ok());
    BOOST_REQUIRE(s.pt.split_at(8 * G1 + K4).ok());
    BOOST_TEST(s.policy.live_count == live);
    // Inside the 1 GiB leaf, off a 2 MiB boundary: an L2, then an L1.
    auto r = s.pt.split_at(G1 + M2 + 3 * K4);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->needed);
    BOOST_TEST(s.policy.live_count == live + 2);
    require_translation(s, G1, 2 * G1, M2, pte::RW);
    require_translation(s, G1 + M2 + 2 * K4, 2 * G1 + M2 + 2 * K4, K4, pte::RW);
    require_translation(s, G1 + M2 + 3 * K4, 2 * G1 + M2 + 3 * K4, K4, pte::RW);
    require_translation(s, 2 * G1 - K4, 3 * G1 - K4, M2, pte::RW);
    // Now a leaf boundary: a second split changes nothing.
    BOOST_REQUIRE(s.pt.split_at(G1 + M2 + 3 * K4).ok());
    BOOST_TEST(s.policy.live_count == live + 2);
    // Inside the 2 MiB leaf: one L1.
    BOOST_REQUIRE(s.pt.split_at(4 * G1 + 9 * K4).ok());
    require_translation(s, 4 * G1 + 8 * K4, M2 + 8 * K4, K4, pte::RW | pte::NX);
    require_translation(s, 4 * G1 + 9 * K4, M2 + 9 * K4, K4, pte::RW | pte::NX);
    BOOST_TEST(audit(s).size() == 511u + 512u + 512u);
    // Without the tables it needs, nothing changes.
    Space<Policy> t;
    BOOST_REQUIRE(t.pt.map(G1, PhysAddr(2 * G1), G1, RW).ok());
    const auto before = t.policy.snapshot();
    t.policy.budget = 1;
    BOOST_TEST(t.pt.split_at(G1 + K4).error() == Err::NoMemory);
    BOOST_TEST(t.policy.snapshot() == before);
    BOOST_TEST(t.pt.split_at(G1 + 1).error() == Err::InvalidArgument);
    BOOST_TEST(t.pt.split_at(0x0000800000000000ull).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(unmap_frees_empty_tables) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x1ff000, PhysAddr(0x1ff000), 0x401000 - 0x1ff000, RW).ok());
    BOOST_REQUIRE(s.pt.map(0xFFFF830000000000ull, PhysAddr(0), 4 * M2 + 3 * K4, RW).ok());
    BOOST_REQUIRE(s.pt.unmap(0x1ff000, K4).ok());
    BOOST_TEST(s.policy.live_count == 4u + 3u); // first L1 gone
    audit(s);
    // Unmapping across holes is fine and frees the rest.
    BOOST_REQUIRE(s.pt.unmap(0, 0x1000000).ok());
    BOOST_TEST(s.policy.live_count == 1u + 3u);
    BOOST_REQUIRE(s.pt.unmap(0xFFFF830000000000ull, G1).ok());
    BOOST_TEST(s.policy.live_count == 1u);
    const uint64_t* root = s.policy.table_ptr(s.root);
    for (int i = 0; i < 512; ++i) BOOST_REQUIRE(root[i] == 0u);
    // Unmapping nothing at all: no flush.
    auto r = s.pt.unmap(0x5000, K4);
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(!r->needed);
}

BOOST_AUTO_TEST_CASE(kept_tables_survive_unmap_and_teardown) {
    Space<PoolPolicy<true, true>> s;
    BOOST_REQUIRE(s.pt.map(0xFFFF830000000000ull, PhysAddr(0), K4, RW).ok());
    BOOST_REQUIRE(s.pt.map(0x1000, PhysAddr(0), K4, RW).ok());
    BOOST_TEST(s.policy.live_count == 7u);
    BOOST_REQUIRE(s.pt.unmap(0xFFFF830000000000ull, K4).ok());
    BOOST_TEST(s.policy.live_count == 5u); // the shared L3 stays
    s.pt.release_tables();
    BOOST_TEST(s.policy.live_count == 2u); // root + the kept L3
    const uint64_t* root = s.policy.table_ptr(s.root);
    BOOST_TEST(root[0] == 0u);
    BOOST_TEST(root[262] != 0u);
}

BOOST_AUTO_TEST_CASE(release_tables_frees_every_table) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x1ff000, PhysAddr(0x1ff000), 0x401000 - 0x1ff000, RW).ok());
    BOOST_REQUIRE(s.pt.map(0xFFFF800000000000ull, PhysAddr(0), G1 + K4, RW).ok());
    BOOST_REQUIRE(s.policy.live_count > 5u);
    s.pt.release_tables();
    BOOST_TEST(s.policy.live_count == 1u);
    BOOST_TEST(s.policy.bad_frees == 0u);
    BOOST_TEST(s.pt.lookup(0x200000).error() == Err::NotFound);
}

BOOST_AUTO_TEST_CASE(protect_changes_flags_and_splits_when_needed) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x200000, PhysAddr(0x40000000), M2, PteFlags(pte::RW | pte::A | pte::D)).ok());
    BOOST_REQUIRE(s.pt.map(0x400000, PhysAddr(0x1000), 4 * K4, RW).ok());
    // Same flags: nothing to do, no split.
    auto same = s.pt.protect(0x300000, K4, RW);
    BOOST_REQUIRE(same.ok());
    BOOST_TEST(!same->needed);
    BOOST_TEST(s.policy.live_count == 4u); // root, L3, L2, one L1
    // Read-only for one page inside the 2 MiB leaf.
    auto ro = s.pt.protect(0x300000, K4, PteFlags(pte::NX));
    BOOST_REQUIRE(ro.ok());
    BOOST_TEST(ro->needed);
    BOOST_TEST(!ro->global);
    BOOST_TEST(s.policy.live_count == 5u);
    require_translation(s, 0x300000, 0x40100000, K4, pte::NX | pte::A | pte::D); // A/D kept
    require_translation(s, 0x301000, 0x40101000, K4, pte::RW | pte::A | pte::D);
    // A hole in the range: refused, nothing changed.
    const auto before = s.policy.snapshot();
    BOOST_TEST(s.pt.protect(0x3FF000, 7 * K4, RW_NX).error() == Err::NotFound);
    BOOST_TEST(s.pt.protect(0x404000, K4, RW_NX).error() == Err::NotFound);
    BOOST_TEST(s.policy.snapshot() == before);
    // Whole 4 KiB range.
    BOOST_REQUIRE(s.pt.protect(0x400000, 4 * K4, PteFlags(pte::RW | pte::US | pte::G)).ok());
    require_translation(s, 0x403000, 0x4000, K4, pte::RW | pte::US | pte::G);
    auto g = s.pt.protect(0x400000, K4, RW);
    BOOST_REQUIRE(g.ok());
    BOOST_TEST(g->global); // the old entry was global
    audit(s);              // US leaf: intermediates widened
}

BOOST_AUTO_TEST_CASE(intermediate_entries_follow_the_leaves) {
    Space<Policy> s;
    BOOST_REQUIRE(s.pt.map(0x1000, PhysAddr(0x1000), K4, RW_NX).ok());
    const uint64_t* root = s.policy.table_ptr(s.root);
    BOOST_TEST((root[0] & (pte::P | pte::RW | pte::US | pte::NX)) == (pte::P | pte::RW));
    // A user page below the same tables widens them (and asks for a flush).
    auto r = s.pt.map(0x2000, PhysAddr(0x2000), K4, PteFlags(pte::US));
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->needed);
    BOOST_TEST((root[0] & pte::US) != 0u);
    require_translation(s, 0x2000, 0x2000, K4, pte::US); // read-only leaf stays read-only
    audit(s);
}

BOOST_AUTO_TEST_CASE(randomized_against_shadow_map) {
    // A 16 MiB window across a 1 GiB boundary: two L2 tables, up to 8 L1s.
    constexpr uint64_t WINDOW = G1 - 4 * M2, WINDOW_PAGES = 8 * M2 / K4;
    constexpr Mapping NONE{~0ull, 0};
    Space<Policy> s;
    std::vector<Mapping> shadow(WINDOW_PAGES, NONE);
    size_t large = 0;
    auto actual = [&] {
        std::vector<Mapping> pages(WINDOW_PAGES, NONE);
        for (const Leaf& l : audit(s)) {
            REQUIRE_FAST(l.va >= WINDOW);
            REQUIRE_FAST(l.va + l.size <= WINDOW + WINDOW_PAGES * K4);
            large += l.size > K4;
            for (uint64_t off = 0; off < l.size; off += K4) pages[(l.va + off - WINDOW) / K4] = {l.pa + off, l.flags};
        }
        return pages;
    };
    std::mt19937_64 rng(2024);
    const uint64_t attr_bits[] = {pte::RW, pte::US, pte::PWT, pte::PCD, pte::A, pte::D, pte::G, pte::NX};
    auto random_flags = [&] {
        uint64_t f = 0;
        for (uint64_t b : attr_bits)
            if (rng() % 2) f |= b;
        return f;
    };
    size_t refused = 0, oom = 0;
    for (int op = 0; op < 1500; ++op) {
        const bool big = rng() % 3 == 0;
        uint64_t first = rng() % WINDOW_PAGES, pages = 1 + rng() % (big ? 1536 : 40);
        if (big) first &= ~511ull;
        if (first + pages > WINDOW_PAGES) pages = WINDOW_PAGES - first;
        const uint64_t va = WINDOW + first * K4, size = pages * K4;
        const unsigned kind = rng() % 3;
        if (rng() % 4 == 0) s.policy.budget = static_cast<long>(rng() % 3);
        const auto before = s.policy.snapshot();
        std::vector<Mapping> expect = shadow;
        Err expected_err = Err::NotSupported; // none
        Status st;
        if (kind == 0) {
            const uint64_t pa = (rng() % 4096) * (big ? M2 : K4) + (big && rng() % 4 == 0 ? K4 : 0);
            const uint64_t flags = random_flags();
            for (uint64_t i = 0; i < pages; ++i) {
                if (shadow[first + i].pa != NONE.pa) expected_err = Err::Exists;
                expect[first + i] = {pa + i * K4, flags | pte::P};
            }
            auto r = s.pt.map(va, PhysAddr(pa), size, PteFlags(flags), MapOptions{rng() % 4 != 0});
            st = r.ok() ? Status() : Status(r.error());
        } else if (kind == 1) {
            bool any = false;
            for (uint64_t i = 0; i < pages; ++i) {
                any |= shadow[first + i].pa != NONE.pa;
                expect[first + i] = NONE;
            }
            auto r = s.pt.unmap(va, size);
            st = r.ok() ? Status() : Status(r.error());
            if (r.ok()) BOOST_REQUIRE(r->needed == any);
        } else {
            const uint64_t flags = random_flags();
            for (uint64_t i = 0; i < pages; ++i) {
                Mapping& m = expect[first + i];
                if (m.pa == NONE.pa) expected_err = Err::NotFound;
                m.flags = flags | (m.flags & (pte::A | pte::D)) | pte::P;
            }
            auto r = s.pt.protect(va, size, PteFlags(flags));
            st = r.ok() ? Status() : Status(r.error());
        }
        if (expected_err != Err::NotSupported) {
            BOOST_REQUIRE(!st.ok());
            BOOST_REQUIRE(st.error() == expected_err);
        }
        if (!st.ok()) {
            if (st.error() == Err::NoMemory)
                ++oom;
            else
                BOOST_REQUIRE(st.error() == expected_err);
            refused += st.error() != Err::NoMemory;
            REQUIRE_FAST(s.policy.snapshot() == before); // a refused call changes nothing
            expect = shadow;
        }
        s.policy.budget = -1;
        shadow = expect;
        REQUIRE_FAST(actual() == shadow);
    }
    BOOST_TEST(refused > 100u); // the run did exercise refusals,
    BOOST_TEST(oom > 10u);      // exhaustion,
    BOOST_TEST(large > 100u);   // and large pages
    BOOST_REQUIRE(s.pt.unmap(WINDOW, WINDOW_PAGES * K4).ok());
    BOOST_TEST(s.policy.live_count == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
