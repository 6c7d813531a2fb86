// virtue::malloc and friends: first fit with immediate coalescing over a static
// 1 MiB arena in .bss.
//
// The arena is a sequence of blocks that tile it exactly. Each block starts
// with a 16-byte header followed by the payload (so payloads are 16-byte
// aligned):
//   word 0: kMagic << 32 | block size (multiple of 16, header included) | used bit
//   word 1: size of the previous block (0 for the first), for O(1) coalescing
// free() checks the header (magic, sizes agreeing with both neighbours) and
// panics on a pointer it did not hand out or on a second free of one.
#include "internal.hpp"
#include "virtue/sdk.hpp"

namespace virtue {
namespace {

constexpr size_t kArenaSize = 1u << 20;
constexpr uint64_t kHeader = 16, kMinBlock = 32;
constexpr uint64_t kMagic = 0x56697274; // "Virt"
constexpr uint64_t kUsed = 1;

alignas(16) unsigned char g_arena[kArenaSize];
bool g_initialised = false;
detail::SpinLock g_lock;

struct Header {
    uint64_t word;      // kMagic << 32 | size | used
    uint64_t prev_size; // 0 for the first block
};

unsigned char* arena_end() { return g_arena + kArenaSize; }
Header* at(unsigned char* p) { return reinterpret_cast<Header*>(p); }
uint64_t size_of(const Header* h) { return h->word & 0xffffffffu & ~kUsed; }
bool used(const Header* h) { return (h->word & kUsed) != 0; }
bool magic_ok(const Header* h) { return (h->word >> 32) == kMagic; }
void set(Header* h, uint64_t size, bool in_use) { h->word = kMagic << 32 | size | (in_use ? kUsed : 0); }
unsigned char* bytes(Header* h) { return reinterpret_cast<unsigned char*>(h); }
Header* next_of(Header* h) {
    unsigned char* n = bytes(h) + size_of(h);
    return n < arena_end() ? at(n) : nullptr;
}

void init_locked() {
    if (g_initialised) return;
    Header* h = at(g_arena);
    set(h, kArenaSize, false);
    h->prev_size = 0;
    g_initialised = true;
}

// A plausible block header: magic, size in range, agreeing with neighbours.
bool consistent(Header* h) {
    unsigned char* p = bytes(h);
    uint64_t size = size_of(h);
    if (!magic_ok(h) || size < kMinBlock || size % 16 != 0 || size > static_cast<uint64_t>(arena_end() - p))
        return false;
    if (p == g_arena) {
        if (h->prev_size != 0) return false;
    } else {
        uint64_t prev = h->prev_size;
        if (prev < kMinBlock || prev % 16 != 0 || prev > static_cast<uint64_t>(p - g_arena)) return false;
        Header* ph = at(p - prev);
        if (!magic_ok(ph) || size_of(ph) != prev) return false;
    }
    Header* n = next_of(h);
    return n == nullptr || (magic_ok(n) && n->prev_size == size);
}

// The header of a payload pointer handed out by malloc, or a panic.
Header* checked_header(void* ptr, const char* who) {
    auto* p = static_cast<unsigned char*>(ptr);
    auto addr = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(g_arena);
    if (!g_initialised || addr < base + kHeader || addr >= base + kArenaSize || (addr - base) % 16 != 0)
        panic("%s(%p): not a pointer from malloc", who, ptr);
    Header* h = at(p - kHeader);
    bool ok = consistent(h);
    if (ok && used(h)) return h;
    if (ok) panic("%s(%p): double free", who, ptr);
    // A header merged into a neighbour stays behind marked free, but so may
    // one inside a block that was later handed out again.
    if (magic_ok(h) && !used(h)) panic("%s(%p): double free (or a pointer into a block)", who, ptr);
    panic("%s(%p): not a pointer from malloc (or the heap is corrupted)", who, ptr);
}

void* malloc_locked(size_t n) {
    init_locked();
    if (n > kArenaSize) return nullptr;
    uint64_t need = (n + kHeader + 15) & ~uint64_t{15};
    if (need < kMinBlock) need = kMinBlock;
    for (Header* h = at(g_arena); h != nullptr; h = next_of(h)) {
        uint64_t size = size_of(h);
        if (used(h) || size < need) continue;
        if (size - need >= kMinBlock) { // split off the tail as a free block
            Header* tail = at(bytes(h) + need);
            set(tail, size - need, false);
            tail->prev_size = need;
            if (Header* after = next_of(tail)) after->prev_size = size - need;
            size = need;
        }
        set(h, size, true);
        return bytes(h) + kHeader;
    }
    return nullptr;
}

void free_locked(Header* h) {
    uint64_t size = size_of(h);
    set(h, size, false);
    // Merge with the following block (its header stays behind, marked free,
    // so a second free of it is still recognised).
    if (Header* n = next_of(h); n != nullptr && !used(n)) {
        size += size_of(n);
        set(h, size, false);
        if (Header* after = next_of(h)) after->prev_size = size;
    }
    // Merge into the previous block.
    if (bytes(h) != g_arena) {
        Header* p = at(bytes(h) - h->prev_size);
        if (!used(p)) {
            uint64_t merged = size_of(p) + size;
            set(p, merged, false);
            if (Header* after = next_of(p)) after->prev_size = merged;
        }
    }
}

} // namespace

void* malloc(size_t size) {
    detail::LockGuard guard(g_lock);
    return malloc_locked(size);
}

void free(void* ptr) {
    if (ptr == nullptr) return;
    detail::LockGuard guard(g_lock);
    free_locked(checked_header(ptr, "free"));
}

void* calloc(size_t count, size_t size) {
    if (size != 0 && count > kArenaSize / size) return nullptr;
    void* p = malloc(count * size);
    if (p != nullptr) __builtin_memset(p, 0, count * size);
    return p;
}

void* realloc(void* ptr, size_t size) {
    if (ptr == nullptr) return malloc(size);
    if (size == 0) {
        free(ptr);
        return nullptr;
    }
    uint64_t old_payload;
    {
        detail::LockGuard guard(g_lock);
        Header* h = checked_header(ptr, "realloc");
        old_payload = size_of(h) - kHeader;
        if (size <= old_payload) return ptr;
    }
    void* fresh = malloc(size);
    if (fresh == nullptr) return nullptr;
    __builtin_memcpy(fresh, ptr, old_payload);
    free(ptr);
    return fresh;
}

} // namespace virtue
