// What every native-call handler works with: the calling thread and domain,
// typed handle references (cap/handle_ref.hpp), user pointers
// (vm/user_memory.hpp), and the rights each kind of new handle gets.
#pragma once

#include <stdint.h>

#include "cap/handle_ref.hpp"
#include "domain/domain.hpp"
#include "domain/thread.hpp"
#include "event/evtchn.hpp"
#include "grant/grant_table.hpp"
#include "ipc/endpoint.hpp"
#include "lib/result.hpp"
#include "sched/scheduler.hpp"
#include "time/timer_object.hpp"
#include "virtue/native_abi.h"
#include "vm/address_space.hpp"
#include "vm/user_memory.hpp"

namespace virtue::native {

using ThreadRef = Ref<Thread, ObjType::Thread>;
using AspaceRef = Ref<AddressSpace, ObjType::AddressSpace>;
using MemoryRef = Ref<MemRegion, ObjType::MemoryRegion>;
using TimerRef = Ref<Timer, ObjType::Timer>;
using PortRef = Ref<EventPort, ObjType::EventChannel>;
using EndpointRef = Ref<Endpoint, ObjType::Endpoint>;

inline Thread& caller_thread() { return *current_thread(); }
inline Domain& caller() { return *current_thread()->domain; }
inline LockedHandles caller_handles() {
    Domain& d = caller();
    return {d.handles, d.handles_lock};
}

// A new handle of the caller to obj (which keeps its own reference).
inline CallResult new_handle(KObject& obj, uint32_t rights) {
    LockedHandles h = caller_handles();
    IrqLockGuard guard(h.lock);
    auto r = h.table.insert(obj, rights);
    if (!r) return r.error();
    return *r;
}

// The rights a new handle of each kind starts with.
inline constexpr uint32_t kMemoryRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ |
                                          VIRTUE_RIGHT_WRITE | VIRTUE_RIGHT_EXECUTE | VIRTUE_RIGHT_MAP;
inline constexpr uint32_t kAspaceRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ |
                                          VIRTUE_RIGHT_EXECUTE | VIRTUE_RIGHT_MAP;
inline constexpr uint32_t kThreadRights =
    VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE;
inline constexpr uint32_t kTimerRights = kThreadRights;
// No RIGHT_TRANSFER: a port does not hold its domain (event/evtchn.hpp).
inline constexpr uint32_t kPortRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE;
inline constexpr uint32_t kMappingRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_READ;
inline constexpr uint32_t kServerRights =
    VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE;
inline constexpr uint32_t kClientRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_WRITE;

// A domain id argument: DOMID_SELF is the caller, reserved ids name nobody.
inline Result<domid_t> remote_domain(uint64_t domid) { return domid_named(caller(), domid); }

// A wait's result (sched/wait.hpp) as an Err, for calls that only wait.
inline Status wait_status(int64_t r) { return r >= 0 ? Status::success() : Status(wait_error(r)); }

} // namespace virtue::native
