// Handles: how a native domain names the kernel objects it uses .
//
// Every domain has one bounded handle table. A handle is a 64-bit value
//
//     bits  0..15  slot index
//     bits 16..39  slot generation (never 0 for a live slot)
//     bits 40..54  the domain id of the table that issued it
//     bits 55..63  zero
//
// so that a stale handle (its slot closed and perhaps reused), a forged
// value and another domain's handle are each told apart, and 0 is never a
// handle. Each slot holds a reference to a kernel object and the rights
// this handle grants on it.
//
// Errors (lib/errors.def gives the errno each becomes):
//   Err::BadHandle      not a live handle of this table     -> -EBADF
//   Err::ForeignHandle  issued by another domain's table    -> -EXDEV
//   Err::WrongType      a live handle, other object type    -> -ENODEV
//   Err::Permission     a right the handle lacks            -> -EACCES
//   Err::TooManyHandles table full                          -> -EMFILE
// A failed operation changes nothing.
//
// Pure logic, not thread-safe: the kernel serialises each table with a lock.
// Objects are reference counted (KObject); the table holds one reference per
// handle and get() hands the caller one more.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>

#include "lib/result.hpp"

namespace virtue {

enum class ObjType : uint8_t {
    None = 0,
    Thread,
    AddressSpace,
    MemoryRegion,
    Timer,
    EventChannel,
    GrantMapping,
    Endpoint,
    Test, // unit tests only
};

// Base of every object a handle can name. destroy runs when the last
// reference goes (not under the table's lock: tables drop references after
// unlinking).
struct KObject {
    ObjType type = ObjType::None;
    uint32_t refs = 1; // the creator's reference
    void (*destroy)(KObject*) = nullptr;
};
void kobject_ref(KObject& o);
void kobject_unref(KObject& o); // destroy() at zero
// A reference unless the object is already on its way to destroy() (for
// tables that name objects without holding references).
bool kobject_try_ref(KObject& o);

// The object of type T whose `kobj` member o is (every object type embeds
// its KObject as a member named kobj).
template <typename T> T& kobject_cast(KObject* o) {
    return *reinterpret_cast<T*>(reinterpret_cast<char*>(o) - offsetof(T, kobj));
}

// Rights common to every object type; types add their own above bit 8.
inline constexpr uint32_t RIGHT_DUPLICATE = 1u << 0; // may be duplicated
inline constexpr uint32_t RIGHT_TRANSFER = 1u << 1;  // may be sent to another domain
inline constexpr uint32_t RIGHTS_ALL = 0xffffffffu;

inline constexpr uint32_t kHandleIndexBits = 16;
inline constexpr uint32_t kHandleGenerationBits = 24;
inline constexpr uint32_t kMaxHandleSlots = 1u << kHandleIndexBits;

struct HandleSlot {
    KObject* object = nullptr; // nullptr: free
    uint32_t rights = 0;
    uint32_t generation = 0;   // of the current (or next) handle in this slot
    uint32_t next_free = 0;    // free list link (slot index + 1, 0 = end)
};

struct HandleInfo {
    ObjType type;
    uint32_t rights;
};

class HandleTable {
  public:
    // Uses slots[0, capacity) (capacity 1..kMaxHandleSlots) for domain owner.
    Status init(domid_t owner, HandleSlot* slots, uint32_t capacity);

    // A new handle to obj with rights (takes a reference).
    Result<uint64_t> insert(KObject& obj, uint32_t rights);

    // Insert in two steps, for calls that create an object and then name
    // it: reserve a slot first (Err::TooManyHandles: the table is full), so a
    // full table refuses before anything is created or made visible; then
    // commit the slot to the new object (takes a reference), or give it
    // back. A reserved slot names nothing (its handle is not live yet).
    Result<uint32_t> reserve();
    uint64_t commit(uint32_t slot, KObject& obj, uint32_t rights);
    void unreserve(uint32_t slot);

    // The object behind h, which must be of `type` (ObjType::None: any) and
    // grant every bit of `needed`; the caller gets a reference to drop.
    // `rights`, if given, receives all the rights h grants.
    Result<KObject*> get(uint64_t h, ObjType type, uint32_t needed, uint32_t* rights = nullptr);

    // A second handle to the same object with `rights`, a subset of h's;
    // needs RIGHT_DUPLICATE. Err::Permission for rights h does not have.
    Result<uint64_t> duplicate(uint64_t h, uint32_t rights);

    // Closes h; returns the object's reference the slot held (the caller
    // drops it once it has released the table's lock).
    Result<KObject*> close(uint64_t h);

    Result<HandleInfo> query(uint64_t h) const;

    // Domain death: empties every slot, calling drop(object) for each
    // reference held.
    void close_all(void (*drop)(KObject*));
    // Domain death, one slot at a time: empties the first occupied slot
    // and returns the reference it held (nullptr: the table is empty), so
    // the caller can drop it after releasing the table's lock.
    KObject* take_any();

    uint32_t used() const { return used_; }
    uint32_t capacity() const { return capacity_; }

    // Handle encoding (public for tests and messages).
    static uint64_t encode(domid_t owner, uint32_t index, uint32_t generation);

  private:
    Result<uint32_t> slot_of(uint64_t h) const; // validates ownership, index, generation
    Result<uint64_t> insert_locked(KObject& obj, uint32_t rights);

    domid_t owner_ = DOMID_INVALID;
    HandleSlot* slots_ = nullptr;
    uint32_t capacity_ = 0;
    uint32_t used_ = 0;
    uint32_t free_head_ = 0; // slot index + 1, 0 = none
};

} // namespace virtue
