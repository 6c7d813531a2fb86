#include "mm/heap.hpp"

namespace virtue {

unsigned SizeClassHeap::class_of(size_t size) {
    if (size == 0 || size > MAX_SIZE) return NR_CLASSES;
    unsigned i = 0;
    for (size_t cls = MIN_SIZE; cls < size; cls <<= 1) ++i;
    return i;
}

Result<void*> SizeClassHeap::alloc(size_t size) {
    if (size == 0) return Err::InvalidArgument;
    if (size > MAX_SIZE) return Err::Range;
    return classes_[class_of(size)].alloc();
}

ObjectCache* SizeClassHeap::cache_of(const void* p) {
    ObjectCache* c = ObjectCache::owner_of(p);
    for (ObjectCache& mine : classes_)
        if (c == &mine) return c;
    return nullptr;
}

Status SizeClassHeap::free(void* p) {
    ObjectCache* c = cache_of(p);
    if (c == nullptr) return Err::InvalidArgument;
    return c->free(p);
}

Status SizeClassHeap::free(void* p, size_t size) {
    unsigned i = class_of(size);
    if (i == NR_CLASSES) return Err::InvalidArgument;
    ObjectCache* c = cache_of(p);
    if (c == nullptr || c != &classes_[i]) return Err::InvalidArgument;
    return c->free(p);
}

size_t SizeClassHeap::objects_in_use() const {
    size_t n = 0;
    for (const ObjectCache& c : classes_) n += c.stats().objects_in_use;
    return n;
}

size_t SizeClassHeap::pages_held() const {
    size_t n = 0;
    for (const ObjectCache& c : classes_) n += c.stats().slabs;
    return n;
}

void SizeClassHeap::release_spares() {
    for (ObjectCache& c : classes_) c.release_spare();
}

Status SizeClassHeap::check_invariants() const {
    for (const ObjectCache& c : classes_) TRY(c.check_invariants());
    return Status::success();
}

} // namespace virtue
