// Using a domain's handle table from a hypercall: a referenced, typed
// object behind a handle (Ref), and a slot reserved for an object a call is
// about to create (NewHandle). Both take the table's lock only briefly and
// drop object references outside it (handle_table.hpp).
#pragma once

#include <stdint.h>

#include "cap/handle_table.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"

namespace virtue {

// A domain's table and the lock that serialises it.
struct LockedHandles {
    HandleTable& table;
    SpinLock& lock;
};

// A reference to the T behind a handle, with the rights the handle grants;
// empty until resolve() succeeds (or for an optional handle given as 0).
template <typename T, ObjType kType> class Ref {
  public:
    Ref() = default;
    ~Ref() {
        if (obj_) kobject_unref(*obj_);
    }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;

    // Looks h up: Err::BadHandle, ForeignHandle, WrongType or Permission
    // (a right of `needed` is missing).
    Status resolve(LockedHandles handles, uint64_t h, uint32_t needed) {
        IrqLockGuard guard(handles.lock);
        auto o = handles.table.get(h, kType, needed, &rights_);
        if (!o) return o.error();
        obj_ = *o;
        return Status::success();
    }

    bool present() const { return obj_ != nullptr; }
    uint32_t rights() const { return rights_; }
    bool has(uint32_t rights) const { return (rights_ & rights) == rights; }
    T& operator*() const { return kobject_cast<T>(obj_); }
    T* operator->() const { return &kobject_cast<T>(obj_); }
    KObject& object() const { return *obj_; }

  private:
    KObject* obj_ = nullptr;
    uint32_t rights_ = 0;
};

// A handle slot reserved before a call creates its object, so that a full
// table refuses the call (Err::TooManyHandles) before the object exists or
// any other domain can see it (a port bound to a peer, an endpoint
// connected). Unused, the slot is given back.
class NewHandle {
  public:
    explicit NewHandle(LockedHandles handles) : handles_(handles) {
        IrqLockGuard guard(handles_.lock);
        auto slot = handles_.table.reserve();
        reserved_ = slot.ok();
        if (reserved_) slot_ = *slot;
    }
    ~NewHandle() {
        if (!reserved_) return;
        IrqLockGuard guard(handles_.lock);
        handles_.table.unreserve(slot_);
    }
    NewHandle(const NewHandle&) = delete;
    NewHandle& operator=(const NewHandle&) = delete;

    Status status() const { return reserved_ ? Status::success() : Status(Err::TooManyHandles); }

    // Hands the creator's reference of the new object to the slot; the
    // handle's value.
    uint64_t publish(KObject& obj, uint32_t rights) {
        uint64_t h;
        {
            IrqLockGuard guard(handles_.lock);
            h = handles_.table.commit(slot_, obj, rights);
        }
        reserved_ = false;
        kobject_unref(obj);
        return h;
    }

    // The same for a creation's result: its error as it is, or the handle
    // of the object it made (which embeds its KObject as `kobj`).
    template <typename T> Result<uint64_t> publish(const Result<T*>& made, uint32_t rights) {
        if (!made) return made.error();
        return publish((*made)->kobj, rights);
    }

  private:
    LockedHandles handles_;
    uint32_t slot_ = 0;
    bool reserved_ = false;
};

} // namespace virtue
