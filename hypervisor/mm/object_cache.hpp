// Fixed-size object caches (slab style) for hypervisor kernel objects.
//
// A slab is one page from a PageSource: a header at the start of the page
// (owning cache, list links, allocation bitmap), then the objects. Because
// the header sits in the page itself, free(p) finds the slab in O(1) by
// rounding p down, and checks that p really is a live object of this cache:
// foreign and interior pointers and double frees are refused, not absorbed.
//
// Slabs move between a partial list (has free objects) and a full list; a
// slab that becomes empty is kept as the single spare or given back.
//
// Precondition for free(): p points into mapped memory (the header of its
// page is read). Any pointer into the hypervisor's heap or direct map is.
// A stale pointer into a slab already given back is refused while the page
// is not reused as a slab (its magic is cleared); once reused, it cannot be
// told from a live object.
//
// Not thread-safe: the caller serialises (one spinlock per cache or heap).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <compare> // lib/addr.hpp uses <=> without including it

#include "lib/addr.hpp"
#include "lib/result.hpp"

namespace virtue {

// Where slabs come from. In the hypervisor: frames from the buddy allocator
// seen through the direct map; in host tests: aligned_alloc.
struct PageSource {
    // One PAGE_SIZE-aligned page of PAGE_SIZE bytes.
    virtual Result<void*> alloc_page() = 0;
    virtual void free_page(void* page) = 0;

  protected:
    ~PageSource() = default; // never destroyed through this interface
};

struct CacheStats {
    size_t objects_in_use = 0;
    size_t slabs = 0;         // pages held, the spare included
    size_t spare_slabs = 0;   // empty slabs kept (0 or 1)
    size_t objects_per_slab = 0;
    size_t stride = 0;        // bytes between objects
};

class ObjectCache {
  public:
    static constexpr size_t MIN_STRIDE = 16;
    static constexpr size_t MAX_OBJECTS = PAGE_SIZE / MIN_STRIDE;
    static constexpr size_t BITMAP_WORDS = MAX_OBJECTS / 64;

    // `align` must be a power of two; objects must fit one per page after
    // the header. A bad configuration makes valid() false and every alloc
    // fail with Err::InvalidArgument. constexpr so caches can be constinit
    // globals.
    constexpr ObjectCache(PageSource& source, const char* name, size_t object_size, size_t align)
        : source_(&source), name_(name), object_size_(object_size) {
        if (object_size == 0 || align == 0 || (align & (align - 1)) != 0 || align > PAGE_SIZE / 2)
            return;
        first_ = round_up(sizeof(Slab), align);
        stride_ = round_up(object_size < MIN_STRIDE ? MIN_STRIDE : object_size, align);
        if (first_ + stride_ > PAGE_SIZE) return;
        per_slab_ = (PAGE_SIZE - first_) / stride_;
    }
    ObjectCache(const ObjectCache&) = delete;
    ObjectCache& operator=(const ObjectCache&) = delete;

    bool valid() const { return per_slab_ != 0; }
    const char* name() const { return name_; }
    size_t object_size() const { return object_size_; }

    // An uninitialised object, aligned as asked. Err::InvalidArgument for a
    // bad configuration; the page source's error when it is exhausted.
    Result<void*> alloc();

    // Err::InvalidArgument for nullptr, a pointer into a page that is not a
    // slab of this cache, or a pointer that is not the start of an object;
    // Err::DoubleFree for an object that is not allocated.
    Status free(void* p);

    // Gives the spare slab (if any) back to the page source.
    void release_spare();

    CacheStats stats() const;

    // Self-check for tests: lists, bitmaps and counters agree.
    // Err::BadFormat on a violation.
    Status check_invariants() const;

    // The cache whose slab contains p, or nullptr if p's page is not a slab
    // (reads p's page header; see the precondition above).
    static ObjectCache* owner_of(const void* p);

  private:
    struct Slab {
        uint64_t magic; // SLAB_MAGIC ^ page address: stale copies do not match
        ObjectCache* cache;
        Slab* next;
        Slab* prev;
        uint32_t in_use;
        uint32_t reserved;
        uint64_t bitmap[BITMAP_WORDS]; // bit set = object allocated
    };

    static constexpr size_t round_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }
    static uint64_t magic_for(const Slab* s);
    static void unlink(Slab*& list, Slab* s);
    static void push(Slab*& list, Slab* s);
    Result<Slab*> new_slab();
    void give_back(Slab* s);
    Status check_list(const Slab* list, bool full, size_t& slabs, size_t& objects) const;

    PageSource* source_;
    const char* name_;
    size_t object_size_;
    size_t first_ = 0;    // offset of object 0 in the page
    size_t stride_ = 0;
    size_t per_slab_ = 0; // 0: invalid configuration
    Slab* partial_ = nullptr;
    Slab* full_ = nullptr;
    Slab* spare_ = nullptr;
    size_t slabs_ = 0;
    size_t in_use_ = 0;
};

} // namespace virtue
