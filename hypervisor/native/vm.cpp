// Native calls on memory: regions (memory_create, memory_frame), address
// spaces (aspace_create, map, unmap, protect, read_bits) and the audit.
#include "mm/memory.hpp"
#include "native_handlers.hpp"

namespace virtue::native {

CallResult call_memory_create(uint64_t pages, uint64_t) {
    if (pages == 0 || pages > kMaxRegionPages) return Err::InvalidArgument; // before a full table's -EMFILE
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(region_create(caller(), pages), kMemoryRights);
}

CallResult call_memory_frame(MemoryRef& memory, uint64_t page) {
    if (page >= memory->pages) return Err::InvalidArgument;
    return region_frame(*memory, page).raw();
}

CallResult call_aspace_create() {
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(aspace_create(caller()), kAspaceRights);
}

CallResult call_aspace_map(AspaceRef& aspace, uint64_t va, MemoryRef& memory, uint64_t offset, uint64_t size,
                           uint64_t prot) {
    MapRequest req{va, offset, size, prot, memory.rights()};
    TRY(aspace_map(*aspace, *memory, req));
    return 0;
}

CallResult call_aspace_unmap(AspaceRef& aspace, uint64_t va, uint64_t size) {
    TRY(aspace_unmap(*aspace, va, size));
    return 0;
}

CallResult call_aspace_protect(AspaceRef& aspace, uint64_t va, uint64_t size, uint64_t prot) {
    TRY(aspace_protect(*aspace, va, size, prot));
    return 0;
}

CallResult call_aspace_read_bits(AspaceRef& aspace, uint64_t va, uint64_t size, uint64_t flags,
                                 UserPtr<uint8_t> bitmap) {
    // Clearing the bits changes the mappings: that needs RIGHT_MAP too.
    if ((flags & VIRTUE_BITS_CLEAR) && !aspace.has(VIRTUE_RIGHT_MAP)) return Err::Permission;
    auto n = aspace_read_bits(*aspace, va, size, flags, bitmap.addr());
    if (!n) return n.error();
    return *n;
}

CallResult call_memory_audit() { return vm_audit(caller()); }

} // namespace virtue::native
