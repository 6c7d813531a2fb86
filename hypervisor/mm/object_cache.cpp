#include "mm/object_cache.hpp"

namespace virtue {

namespace {

constexpr uint64_t SLAB_MAGIC = 0x5649525455534c42ull; // "VIRTUSLB"

// Not __builtin_popcountll: without -mpopcnt it calls libgcc, which the
// hypervisor does not link.
size_t popcount(uint64_t v) {
    size_t n = 0;
    for (; v; v &= v - 1) ++n;
    return n;
}

uintptr_t page_of(const void* p) { return reinterpret_cast<uintptr_t>(p) & ~uintptr_t{PAGE_MASK}; }

} // namespace

uint64_t ObjectCache::magic_for(const Slab* s) { return SLAB_MAGIC ^ reinterpret_cast<uintptr_t>(s); }

void ObjectCache::push(Slab*& list, Slab* s) {
    s->prev = nullptr;
    s->next = list;
    if (list) list->prev = s;
    list = s;
}

void ObjectCache::unlink(Slab*& list, Slab* s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        list = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = nullptr;
}

Result<ObjectCache::Slab*> ObjectCache::new_slab() {
    TRY_ASSIGN(void* page, source_->alloc_page());
    if (page == nullptr || page_of(page) != reinterpret_cast<uintptr_t>(page)) {
        if (page) source_->free_page(page);
        return Err::Fault; // the page source broke its contract
    }
    Slab* s = static_cast<Slab*>(page);
    s->magic = magic_for(s);
    s->cache = this;
    s->next = s->prev = nullptr;
    s->in_use = 0;
    s->reserved = 0;
    for (size_t w = 0; w < BITMAP_WORDS; ++w) s->bitmap[w] = 0;
    ++slabs_;
    return s;
}

void ObjectCache::give_back(Slab* s) {
    s->magic = 0; // stale pointers into the page no longer look like a slab
    s->cache = nullptr;
    --slabs_;
    source_->free_page(s);
}

Result<void*> ObjectCache::alloc() {
    if (!valid()) return Err::InvalidArgument;
    Slab* s = partial_;
    if (s == nullptr) {
        if (spare_) {
            s = spare_;
            spare_ = nullptr;
        } else {
            TRY_ASSIGN(s, new_slab());
        }
        push(partial_, s);
    }
    // A partial slab has a clear bit below per_slab_ by construction.
    size_t index = 0;
    for (size_t w = 0; w < BITMAP_WORDS; ++w) {
        if (~s->bitmap[w] != 0) {
            unsigned bit = static_cast<unsigned>(__builtin_ctzll(~s->bitmap[w]));
            index = w * 64 + bit;
            s->bitmap[w] |= uint64_t{1} << bit;
            break;
        }
    }
    ++s->in_use;
    ++in_use_;
    if (s->in_use == per_slab_) {
        unlink(partial_, s);
        push(full_, s);
    }
    return static_cast<void*>(reinterpret_cast<unsigned char*>(s) + first_ + index * stride_);
}

ObjectCache* ObjectCache::owner_of(const void* p) {
    if (p == nullptr) return nullptr;
    const Slab* s = reinterpret_cast<const Slab*>(page_of(p));
    return s->magic == magic_for(s) ? s->cache : nullptr;
}

Status ObjectCache::free(void* p) {
    if (p == nullptr || owner_of(p) != this) return Err::InvalidArgument;
    Slab* s = reinterpret_cast<Slab*>(page_of(p));
    uintptr_t offset = reinterpret_cast<uintptr_t>(p) - page_of(p);
    if (offset < first_ || (offset - first_) % stride_ != 0) return Err::InvalidArgument;
    size_t index = (offset - first_) / stride_;
    if (index >= per_slab_) return Err::InvalidArgument;
    uint64_t bit = uint64_t{1} << (index % 64);
    if (!(s->bitmap[index / 64] & bit)) return Err::DoubleFree;

    s->bitmap[index / 64] &= ~bit;
    bool was_full = s->in_use == per_slab_;
    --s->in_use;
    --in_use_;
    unlink(was_full ? full_ : partial_, s);
    if (s->in_use == 0) {
        if (spare_ == nullptr)
            spare_ = s;
        else
            give_back(s);
    } else {
        push(partial_, s);
    }
    return Status::success();
}

void ObjectCache::release_spare() {
    if (spare_) {
        give_back(spare_);
        spare_ = nullptr;
    }
}

CacheStats ObjectCache::stats() const {
    CacheStats st;
    st.objects_in_use = in_use_;
    st.slabs = slabs_;
    st.spare_slabs = spare_ ? 1 : 0;
    st.objects_per_slab = per_slab_;
    st.stride = stride_;
    return st;
}

Status ObjectCache::check_list(const Slab* list, bool full, size_t& slabs, size_t& objects) const {
    const Slab* prev = nullptr;
    for (const Slab* s = list; s; prev = s, s = s->next) {
        if (++slabs > slabs_) return Err::BadFormat; // cycle or stray slab
        if (s->magic != magic_for(s) || s->cache != this || s->prev != prev) return Err::BadFormat;
        size_t bits = 0;
        for (size_t w = 0; w < BITMAP_WORDS; ++w) bits += popcount(s->bitmap[w]);
        for (size_t i = per_slab_; i < MAX_OBJECTS; ++i)
            if (s->bitmap[i / 64] & (uint64_t{1} << (i % 64))) return Err::BadFormat;
        if (bits != s->in_use) return Err::BadFormat;
        if (full ? s->in_use != per_slab_ : (s->in_use == 0 || s->in_use >= per_slab_)) return Err::BadFormat;
        objects += s->in_use;
    }
    return Status::success();
}

Status ObjectCache::check_invariants() const {
    size_t slabs = 0, objects = 0;
    TRY(check_list(partial_, false, slabs, objects));
    TRY(check_list(full_, true, slabs, objects));
    if (spare_) {
        ++slabs;
        if (spare_->magic != magic_for(spare_) || spare_->cache != this || spare_->in_use != 0)
            return Err::BadFormat;
        for (size_t w = 0; w < BITMAP_WORDS; ++w)
            if (spare_->bitmap[w]) return Err::BadFormat;
    }
    if (slabs != slabs_ || objects != in_use_) return Err::BadFormat;
    return Status::success();
}

} // namespace virtue
