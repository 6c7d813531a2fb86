// The hypervisor heap: power-of-two object caches of 16..2048 bytes over one
// PageSource, instantiated once by the hypervisor.
//
// free(p) needs no size: the slab header in p's page names the owning cache
// (see object_cache.hpp, including its precondition on p). free(p, size)
// additionally checks the size against that cache.
//
// Objects of class n are aligned to min(size, 64) bytes. The 2048-byte class
// holds one object per page (the slab header takes the rest of the first
// half): use whole frames from the buddy allocator for big objects.
//
// Not thread-safe: the caller serialises (one lock around the heap).
#pragma once

#include <stddef.h>

#include "mm/object_cache.hpp"

namespace virtue {

class SizeClassHeap {
  public:
    static constexpr size_t MIN_SIZE = 16;
    static constexpr size_t MAX_SIZE = 2048;
    static constexpr unsigned NR_CLASSES = 8; // 16, 32, ..., 2048

    explicit constexpr SizeClassHeap(PageSource& source)
        : classes_{{source, "heap-16", 16, 16},     {source, "heap-32", 32, 32},
                   {source, "heap-64", 64, 64},     {source, "heap-128", 128, 64},
                   {source, "heap-256", 256, 64},   {source, "heap-512", 512, 64},
                   {source, "heap-1024", 1024, 64}, {source, "heap-2048", 2048, 64}} {}
    SizeClassHeap(const SizeClassHeap&) = delete;
    SizeClassHeap& operator=(const SizeClassHeap&) = delete;

    // Err::InvalidArgument for size 0, Err::Range above MAX_SIZE, else the
    // page source's error when it is exhausted.
    Result<void*> alloc(size_t size);

    // Err::InvalidArgument for nullptr or a pointer that is not the start of
    // an object of this heap; Err::DoubleFree for a free object.
    Status free(void* p);
    // As free(p), and Err::InvalidArgument if `size` belongs to another
    // class than the one p was allocated from.
    Status free(void* p, size_t size);

    // Index of the class serving `size` (NR_CLASSES if none).
    static unsigned class_of(size_t size);
    const ObjectCache& size_class(unsigned i) const { return classes_[i]; }

    size_t objects_in_use() const;
    size_t pages_held() const;
    // Gives every spare slab back (e.g. before a heap census).
    void release_spares();
    Status check_invariants() const;

  private:
    ObjectCache* cache_of(const void* p);

    ObjectCache classes_[NR_CLASSES];
};

} // namespace virtue
