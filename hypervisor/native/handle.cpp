// Native calls on handles themselves: naming oneself (thread_self,
// aspace_self), duplicate, close, query.
#include "native_handlers.hpp"

namespace virtue::native {

// The object types and constants native.toml promises, checked against
// the hypervisor's own.
static_assert(static_cast<uint32_t>(ObjType::Thread) == VIRTUE_OBJ_THREAD);
static_assert(static_cast<uint32_t>(ObjType::AddressSpace) == VIRTUE_OBJ_ADDRESS_SPACE);
static_assert(static_cast<uint32_t>(ObjType::MemoryRegion) == VIRTUE_OBJ_MEMORY);
static_assert(static_cast<uint32_t>(ObjType::Timer) == VIRTUE_OBJ_TIMER);
static_assert(static_cast<uint32_t>(ObjType::EventChannel) == VIRTUE_OBJ_EVTCHN);
static_assert(static_cast<uint32_t>(ObjType::GrantMapping) == VIRTUE_OBJ_GRANT_MAPPING);
static_assert(static_cast<uint32_t>(ObjType::Endpoint) == VIRTUE_OBJ_ENDPOINT);
static_assert(RIGHT_DUPLICATE == VIRTUE_RIGHT_DUPLICATE && RIGHT_TRANSFER == VIRTUE_RIGHT_TRANSFER);

CallResult call_thread_self() { return new_handle(caller_thread().kobj, kThreadRights); }

CallResult call_aspace_self() { return new_handle(caller_thread().aspace->kobj, kAspaceRights); }

CallResult call_handle_duplicate(uint64_t handle, uint64_t rights) {
    LockedHandles h = caller_handles();
    IrqLockGuard guard(h.lock);
    auto dup = h.table.duplicate(handle, static_cast<uint32_t>(rights));
    if (!dup) return dup.error();
    return *dup;
}

CallResult call_handle_close(uint64_t handle) {
    LockedHandles h = caller_handles();
    KObject* obj;
    {
        IrqLockGuard guard(h.lock);
        auto closed = h.table.close(handle);
        if (!closed) return closed.error();
        obj = *closed;
    }
    kobject_unref(*obj); // outside the table's lock (handle_table.hpp)
    return 0;
}

CallResult call_handle_query(uint64_t handle, UserPtr<virtue_handle_info> info) {
    LockedHandles h = caller_handles();
    virtue_handle_info out{};
    {
        IrqLockGuard guard(h.lock);
        auto q = h.table.query(handle);
        if (!q) return q.error();
        out.type = static_cast<uint32_t>(q->type);
        out.rights = q->rights;
    }
    TRY(info.write(out));
    return 0;
}

} // namespace virtue::native
