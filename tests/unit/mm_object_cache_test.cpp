// Object caches and the size-class heap, over a host page source.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "mm/heap.hpp"
#include "mm/object_cache.hpp"

using namespace virtue;

namespace {

// Pages from aligned_alloc; counts them and catches bad frees.
class HostPages final : public PageSource {
  public:
    explicit HostPages(size_t limit = SIZE_MAX) : limit_(limit) {}
    ~HostPages() {
        for (void* p : live_) std::free(p);
    }
    Result<void*> alloc_page() override {
        if (live_.size() >= limit_) return Err::NoMemory;
        void* p = std::aligned_alloc(PAGE_SIZE, PAGE_SIZE);
        if (!p) return Err::NoMemory;
        std::memset(p, 0xA5, PAGE_SIZE); // not zeroed: the cache must not rely on it
        live_.insert(p);
        ++allocs;
        return p;
    }
    void free_page(void* p) override {
        if (live_.erase(p) != 1) {
            ++bad_frees;
            return;
        }
        std::free(p);
        ++frees;
    }
    size_t live() const { return live_.size(); }
    // Whether the page holding p is still out (a freed page must not be read).
    bool holds(const void* p) const {
        return live_.count(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095})) != 0;
    }
    size_t allocs = 0, frees = 0, bad_frees = 0;

  private:
    size_t limit_;
    std::set<void*> live_;
};

// A broken source handing out misaligned memory.
class MisalignedPages final : public PageSource {
  public:
    Result<void*> alloc_page() override { return static_cast<void*>(buf_ + 8); }
    void free_page(void* p) override { returned = p; }
    void* returned = nullptr;

  private:
    alignas(4096) unsigned char buf_[2 * 4096];
};

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

} // namespace

BOOST_AUTO_TEST_SUITE(object_cache)

BOOST_AUTO_TEST_CASE(bad_configurations_are_unusable) {
    HostPages src;
    ObjectCache zero(src, "zero", 0, 8);
    ObjectCache npot(src, "npot", 32, 24);
    ObjectCache no_align(src, "noalign", 32, 0);
    ObjectCache huge_align(src, "hugealign", 32, 4096);
    ObjectCache too_big(src, "toobig", 4096, 8);
    for (ObjectCache* c : {&zero, &npot, &no_align, &huge_align, &too_big}) {
        BOOST_TEST(!c->valid(), c->name());
        BOOST_TEST(c->alloc().error() == Err::InvalidArgument, c->name());
    }
    BOOST_TEST(src.allocs == 0u);
    ObjectCache biggest(src, "biggest", 2048, 2048); // one object per page
    BOOST_TEST(biggest.valid());
    BOOST_TEST(biggest.stats().objects_per_slab == 1u);
}

BOOST_AUTO_TEST_CASE(layout_matches_the_configuration) {
    HostPages src;
    ObjectCache c(src, "obj24", 24, 8);
    BOOST_TEST(c.stats().stride == 24u);
    const size_t per = c.stats().objects_per_slab;
    BOOST_TEST(per >= 160u);
    BOOST_TEST(per <= 4096u / 24);
    ObjectCache tiny(src, "tiny", 1, 1);
    BOOST_TEST(tiny.stats().stride == ObjectCache::MIN_STRIDE);
    BOOST_TEST(tiny.stats().objects_per_slab <= ObjectCache::MAX_OBJECTS);
}

BOOST_AUTO_TEST_CASE(many_objects_are_distinct_aligned_and_usable) {
    HostPages src;
    ObjectCache c(src, "obj40", 40, 8);
    const size_t per = c.stats().objects_per_slab;
    std::vector<void*> objs;
    for (int i = 0; i < 1000; ++i) {
        auto r = c.alloc();
        BOOST_REQUIRE(r.ok());
        BOOST_REQUIRE(addr(*r) % 8 == 0);
        std::memset(*r, i & 0xff, 40); // ASan flags any overflow of the page
        objs.push_back(*r);
    }
    std::vector<void*> sorted = objs;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i)
        BOOST_REQUIRE(addr(sorted[i]) - addr(sorted[i - 1]) >= 40 || (addr(sorted[i]) & ~4095ul) != (addr(sorted[i - 1]) & ~4095ul));
    for (int i = 0; i < 1000; ++i)
        for (int b = 0; b < 40; ++b) BOOST_REQUIRE(static_cast<unsigned char*>(objs[i])[b] == (i & 0xff));
    const size_t slabs = (1000 + per - 1) / per;
    BOOST_TEST(c.stats().objects_in_use == 1000u);
    BOOST_TEST(c.stats().slabs == slabs);
    BOOST_TEST(src.live() == slabs);
    BOOST_REQUIRE(c.check_invariants().ok());

    std::mt19937 rng(7);
    std::shuffle(objs.begin(), objs.end(), rng);
    for (void* p : objs) BOOST_REQUIRE(c.free(p).ok());
    BOOST_TEST(c.stats().objects_in_use == 0u);
    BOOST_TEST(c.stats().slabs == 1u); // the spare
    BOOST_TEST(c.stats().spare_slabs == 1u);
    BOOST_TEST(src.live() == 1u);
    BOOST_REQUIRE(c.check_invariants().ok());
    c.release_spare();
    BOOST_TEST(src.live() == 0u);
    BOOST_TEST(src.bad_frees == 0u);
}

BOOST_AUTO_TEST_CASE(double_free_is_refused) {
    HostPages src;
    ObjectCache c(src, "obj64", 64, 64);
    auto a = c.alloc();
    auto b = c.alloc();
    BOOST_REQUIRE(a.ok());
    BOOST_REQUIRE(b.ok());
    BOOST_REQUIRE(c.free(*a).ok());
    BOOST_TEST(c.free(*a).error() == Err::DoubleFree);
    BOOST_TEST(c.stats().objects_in_use == 1u);
    BOOST_REQUIRE(c.check_invariants().ok());
    // Never-allocated slot of a live slab: also a double free.
    void* never = static_cast<char*>(*b) + 2 * c.stats().stride;
    BOOST_TEST(c.free(never).error() == Err::DoubleFree);
    BOOST_REQUIRE(c.free(*b).ok());
    BOOST_TEST(c.stats().objects_in_use == 0u);
    BOOST_REQUIRE(c.check_invariants().ok());
}

BOOST_AUTO_TEST_CASE(foreign_and_interior_pointers_are_refused) {
    HostPages src;
    ObjectCache c(src, "obj48", 48, 16);
    ObjectCache other(src, "other48", 48, 16);
    auto a = c.alloc();
    auto o = other.alloc();
    BOOST_REQUIRE(a.ok());
    BOOST_REQUIRE(o.ok());
    char* p = static_cast<char*>(*a);
    const size_t stride = c.stats().stride;

    BOOST_TEST(c.free(nullptr).error() == Err::InvalidArgument);
    BOOST_TEST(c.free(*o).error() == Err::InvalidArgument); // another cache's object
    BOOST_TEST(other.free(p).error() == Err::InvalidArgument);
    BOOST_TEST(c.free(p + 1).error() == Err::InvalidArgument);
    BOOST_TEST(c.free(p + stride / 2).error() == Err::InvalidArgument);
    BOOST_TEST(c.free(p + 47).error() == Err::InvalidArgument);
    char* page = reinterpret_cast<char*>(addr(p) & ~uintptr_t{4095});
    BOOST_TEST(c.free(page).error() == Err::InvalidArgument);      // the header
    BOOST_TEST(c.free(page + 8).error() == Err::InvalidArgument);
    const size_t past = (4096 - (addr(p) - addr(page))) / stride * stride; // first slot past the end
    if (addr(p) - addr(page) + past < 4096)
        BOOST_TEST(c.free(p + past).error() == Err::InvalidArgument);
    BOOST_TEST(c.free(page + 4095).error() == Err::InvalidArgument);

    // A page that is not a slab at all.
    void* plain = std::aligned_alloc(4096, 4096);
    std::memset(plain, 0, 4096);
    BOOST_TEST(c.free(static_cast<char*>(plain) + 128).error() == Err::InvalidArgument);
    BOOST_TEST(ObjectCache::owner_of(static_cast<char*>(plain) + 128) == nullptr);
    // A copy of a slab header elsewhere does not pass for a slab.
    std::memcpy(plain, page, 4096);
    BOOST_TEST(c.free(static_cast<char*>(plain) + (addr(p) - addr(page))).error() == Err::InvalidArgument);
    std::free(plain);

    BOOST_TEST(ObjectCache::owner_of(p) == &c);
    BOOST_TEST(c.stats().objects_in_use == 1u);
    BOOST_REQUIRE(c.check_invariants().ok());
    BOOST_REQUIRE(c.free(p).ok());
    BOOST_REQUIRE(other.free(*o).ok());
}

BOOST_AUTO_TEST_CASE(empty_slabs_go_back_keeping_one_spare) {
    HostPages src;
    ObjectCache c(src, "obj256", 256, 64);
    const size_t per = c.stats().objects_per_slab;
    std::vector<std::vector<void*>> slabs(3);
    for (auto& s : slabs)
        for (size_t i = 0; i < per; ++i) {
            auto r = c.alloc();
            BOOST_REQUIRE(r.ok());
            s.push_back(*r);
        }
    BOOST_TEST(src.live() == 3u);
    // Each group filled exactly one page.
    for (auto& s : slabs)
        for (void* p : s) BOOST_REQUIRE((addr(p) & ~4095ul) == (addr(s[0]) & ~4095ul));

    for (void* p : slabs[0]) BOOST_REQUIRE(c.free(p).ok());
    BOOST_TEST(src.live() == 3u); // kept as the spare
    BOOST_TEST(c.stats().spare_slabs == 1u);
    for (void* p : slabs[1]) BOOST_REQUIRE(c.free(p).ok());
    BOOST_TEST(src.live() == 2u); // a second empty slab is given back
    BOOST_TEST(src.frees == 1u);
    BOOST_REQUIRE(c.check_invariants().ok());

    // The spare is reused before a new page is asked for.
    const size_t allocs = src.allocs;
    auto r = c.alloc();
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(src.allocs == allocs);
    BOOST_TEST(c.stats().spare_slabs == 0u);
    BOOST_REQUIRE(c.free(*r).ok());
    for (void* p : slabs[2]) BOOST_REQUIRE(c.free(p).ok());
    BOOST_TEST(src.live() == 1u);
    c.release_spare();
    BOOST_TEST(src.live() == 0u);
    BOOST_TEST(src.bad_frees == 0u);
}

BOOST_AUTO_TEST_CASE(page_source_exhaustion_is_reported) {
    HostPages src(2);
    ObjectCache c(src, "obj1024", 1024, 64);
    const size_t per = c.stats().objects_per_slab;
    std::vector<void*> objs;
    for (;;) {
        auto r = c.alloc();
        if (!r) {
            BOOST_TEST(r.error() == Err::NoMemory);
            break;
        }
        objs.push_back(*r);
    }
    BOOST_TEST(objs.size() == 2 * per);
    BOOST_REQUIRE(c.check_invariants().ok());
    BOOST_REQUIRE(c.free(objs.back()).ok());
    auto again = c.alloc(); // room again without a new page
    BOOST_REQUIRE(again.ok());
    BOOST_TEST(*again == objs.back());
    objs.back() = *again;
    for (void* p : objs) BOOST_REQUIRE(c.free(p).ok());
    c.release_spare();
    BOOST_TEST(src.live() == 0u);
}

BOOST_AUTO_TEST_CASE(misaligned_pages_from_a_broken_source_are_refused) {
    MisalignedPages src;
    ObjectCache c(src, "obj32", 32, 8);
    auto r = c.alloc();
    BOOST_TEST(r.error() == Err::Fault);
    BOOST_TEST(src.returned != nullptr); // handed back, not leaked
    BOOST_TEST(c.stats().slabs == 0u);
}

BOOST_AUTO_TEST_CASE(large_alignments_hold) {
    HostPages src;
    for (size_t align : {64ul, 256ul, 1024ul, 2048ul}) {
        ObjectCache c(src, "aligned", 100, align);
        BOOST_REQUIRE(c.valid());
        std::vector<void*> objs;
        for (int i = 0; i < 20; ++i) {
            auto r = c.alloc();
            BOOST_REQUIRE(r.ok());
            BOOST_TEST(addr(*r) % align == 0u);
            BOOST_TEST(addr(*r) % 4096 != 0u); // never the header
            objs.push_back(*r);
        }
        for (void* p : objs) BOOST_REQUIRE(c.free(p).ok());
        c.release_spare();
    }
    BOOST_TEST(src.live() == 0u);
}

BOOST_AUTO_TEST_CASE(randomized_against_shadow) {
    HostPages src;
    ObjectCache c(src, "obj72", 72, 8);
    std::map<void*, uint32_t> live; // object -> tag written into it
    std::mt19937_64 rng(99);
    uint32_t tag = 0;
    for (int op = 0; op < 20000; ++op) {
        if (live.empty() || rng() % 100 < 55) {
            auto r = c.alloc();
            BOOST_REQUIRE(r.ok());
            BOOST_REQUIRE(live.count(*r) == 0);
            ++tag;
            std::memset(*r, 0, 72);
            std::memcpy(*r, &tag, sizeof tag);
            std::memcpy(static_cast<char*>(*r) + 68, &tag, sizeof tag);
            live[*r] = tag;
        } else {
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            uint32_t head, tail;
            std::memcpy(&head, it->first, sizeof head);
            std::memcpy(&tail, static_cast<char*>(it->first) + 68, sizeof tail);
            BOOST_REQUIRE(head == it->second); // nobody else wrote into it
            BOOST_REQUIRE(tail == it->second);
            BOOST_REQUIRE(c.free(it->first).ok());
            if (src.holds(it->first)) BOOST_REQUIRE(c.free(it->first).error() == Err::DoubleFree);
            live.erase(it);
        }
        BOOST_REQUIRE(c.stats().objects_in_use == live.size());
        if (op % 1000 == 0) BOOST_REQUIRE(c.check_invariants().ok());
    }
    for (auto& [p, t] : live) BOOST_REQUIRE(c.free(p).ok());
    BOOST_TEST(c.stats().slabs <= 1u);
    c.release_spare();
    BOOST_TEST(src.live() == 0u);
    BOOST_TEST(src.bad_frees == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(size_class_heap)

BOOST_AUTO_TEST_CASE(size_classes) {
    BOOST_TEST(SizeClassHeap::class_of(0) == SizeClassHeap::NR_CLASSES);
    BOOST_TEST(SizeClassHeap::class_of(1) == 0u);
    BOOST_TEST(SizeClassHeap::class_of(16) == 0u);
    BOOST_TEST(SizeClassHeap::class_of(17) == 1u);
    BOOST_TEST(SizeClassHeap::class_of(64) == 2u);
    BOOST_TEST(SizeClassHeap::class_of(1025) == 7u);
    BOOST_TEST(SizeClassHeap::class_of(2048) == 7u);
    BOOST_TEST(SizeClassHeap::class_of(2049) == SizeClassHeap::NR_CLASSES);
}

BOOST_AUTO_TEST_CASE(alloc_and_free_with_and_without_size) {
    HostPages src;
    SizeClassHeap heap(src);
    BOOST_TEST(heap.alloc(0).error() == Err::InvalidArgument);
    BOOST_TEST(heap.alloc(2049).error() == Err::Range);
    std::vector<std::pair<void*, size_t>> objs;
    for (size_t size = 1; size <= 2048; size = size * 3 / 2 + 1) {
        for (int i = 0; i < 5; ++i) {
            auto r = heap.alloc(size);
            BOOST_REQUIRE(r.ok());
            const size_t cls = size_t{16} << SizeClassHeap::class_of(size);
            BOOST_TEST(addr(*r) % std::min<size_t>(cls, 64) == 0u);
            std::memset(*r, 0x5A, size);
            BOOST_TEST(ObjectCache::owner_of(*r) == &heap.size_class(SizeClassHeap::class_of(size)));
            objs.push_back({*r, size});
        }
    }
    BOOST_TEST(heap.objects_in_use() == objs.size());
    BOOST_REQUIRE(heap.check_invariants().ok());
    for (size_t i = 0; i < objs.size(); ++i) {
        auto [p, size] = objs[i];
        if (i % 2) {
            BOOST_REQUIRE(heap.free(p).ok());
        } else {
            // A size from another class is refused and the object stays live.
            const size_t wrong = size <= 16 ? 2048 : 1;
            BOOST_TEST(heap.free(p, wrong).error() == Err::InvalidArgument);
            BOOST_TEST(heap.free(p, 0).error() == Err::InvalidArgument);
            BOOST_REQUIRE(heap.free(p, size).ok());
        }
        if (src.holds(p)) BOOST_TEST(heap.free(p).error() == Err::DoubleFree);
    }
    BOOST_TEST(heap.objects_in_use() == 0u);
    BOOST_REQUIRE(heap.check_invariants().ok());
    heap.release_spares();
    BOOST_TEST(heap.pages_held() == 0u);
    BOOST_TEST(src.live() == 0u);
}

BOOST_AUTO_TEST_CASE(pointers_not_from_the_heap_are_refused) {
    HostPages src;
    SizeClassHeap heap(src);
    ObjectCache outsider(src, "outsider", 32, 32);
    auto o = outsider.alloc();
    auto h = heap.alloc(32);
    BOOST_REQUIRE(o.ok());
    BOOST_REQUIRE(h.ok());
    BOOST_TEST(heap.free(nullptr).error() == Err::InvalidArgument);
    BOOST_TEST(heap.free(*o).error() == Err::InvalidArgument); // a slab, but not the heap's
    BOOST_TEST(heap.free(*o, 32).error() == Err::InvalidArgument);
    BOOST_TEST(heap.free(static_cast<char*>(*h) + 8).error() == Err::InvalidArgument);
    BOOST_TEST(outsider.stats().objects_in_use == 1u);
    BOOST_TEST(heap.objects_in_use() == 1u);
    BOOST_REQUIRE(heap.free(*h).ok());
    BOOST_REQUIRE(outsider.free(*o).ok());
    heap.release_spares();
    outsider.release_spare();
    BOOST_TEST(src.live() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
