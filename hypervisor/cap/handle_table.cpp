// Per-domain handle tables (layout and errors in handle_table.hpp).
#include "cap/handle_table.hpp"

namespace virtue {
namespace {

constexpr uint64_t kIndexMask = (uint64_t{1} << kHandleIndexBits) - 1;
constexpr uint32_t kGenerationMask = (uint32_t{1} << kHandleGenerationBits) - 1;
constexpr unsigned kOwnerShift = kHandleIndexBits + kHandleGenerationBits; // 40
constexpr uint64_t kOwnerMask = 0x7fff;
constexpr unsigned kUsedBits = kOwnerShift + 15; // 55

uint32_t next_generation(uint32_t g) {
    g = (g + 1) & kGenerationMask;
    return g ? g : 1; // 0 would make handle 0 possible
}

} // namespace

void kobject_ref(KObject& o) { __atomic_fetch_add(&o.refs, 1, __ATOMIC_RELAXED); }

[[gnu::hot]] bool kobject_try_ref(KObject& o) {
    uint32_t refs = __atomic_load_n(&o.refs, __ATOMIC_ACQUIRE);
    do {
        if (refs == 0) return false;
    } while (!__atomic_compare_exchange_n(&o.refs, &refs, refs + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return true;
}

[[gnu::hot]] void kobject_unref(KObject& o) {
    if (__atomic_sub_fetch(&o.refs, 1, __ATOMIC_ACQ_REL) == 0 && o.destroy) o.destroy(&o);
}

uint64_t HandleTable::encode(domid_t owner, uint32_t index, uint32_t generation) {
    return (uint64_t{owner} & kOwnerMask) << kOwnerShift | uint64_t{generation & kGenerationMask} << kHandleIndexBits |
           (index & kIndexMask);
}

Status HandleTable::init(domid_t owner, HandleSlot* slots, uint32_t capacity) {
    if (!slots || capacity == 0 || capacity > kMaxHandleSlots || owner >= DOMID_FIRST_RESERVED)
        return Err::InvalidArgument;
    owner_ = owner;
    slots_ = slots;
    capacity_ = capacity;
    used_ = 0;
    // Free list in index order, so handles come out predictably.
    for (uint32_t i = 0; i < capacity; i++) slots_[i] = HandleSlot{nullptr, 0, 1, i + 2 <= capacity ? i + 2 : 0};
    free_head_ = 1;
    return Status::success();
}

Result<uint32_t> HandleTable::slot_of(uint64_t h) const {
    uint32_t index = static_cast<uint32_t>(h & kIndexMask);
    uint32_t generation = static_cast<uint32_t>(h >> kHandleIndexBits) & kGenerationMask;
    // Stray high bits or generation 0 (handle 0 included): never issued.
    if ((h >> kUsedBits) || generation == 0) return Err::BadHandle;
    if (((h >> kOwnerShift) & kOwnerMask) != owner_) return Err::ForeignHandle;
    if (index >= capacity_) return Err::BadHandle;
    const HandleSlot& s = slots_[index];
    if (!s.object || s.generation != generation) return Err::BadHandle;
    return index;
}

Result<uint64_t> HandleTable::insert_locked(KObject& obj, uint32_t rights) {
    if (!free_head_) return Err::TooManyHandles;
    uint32_t index = free_head_ - 1;
    HandleSlot& s = slots_[index];
    free_head_ = s.next_free;
    s.next_free = 0;
    s.object = &obj;
    s.rights = rights;
    used_++;
    kobject_ref(obj);
    return encode(owner_, index, s.generation);
}

Result<uint32_t> HandleTable::reserve() {
    if (!slots_ || !free_head_) return Err::TooManyHandles;
    uint32_t index = free_head_ - 1;
    free_head_ = slots_[index].next_free;
    slots_[index].next_free = 0;
    used_++;
    return index;
}

uint64_t HandleTable::commit(uint32_t slot, KObject& obj, uint32_t rights) {
    HandleSlot& s = slots_[slot];
    s.object = &obj;
    s.rights = rights;
    kobject_ref(obj);
    return encode(owner_, slot, s.generation);
}

void HandleTable::unreserve(uint32_t slot) {
    // Never issued: the generation stays, the slot goes back on the list.
    slots_[slot].next_free = free_head_;
    free_head_ = slot + 1;
    used_--;
}

Result<uint64_t> HandleTable::insert(KObject& obj, uint32_t rights) {
    if (!slots_ || obj.type == ObjType::None) return Err::InvalidArgument;
    return insert_locked(obj, rights);
}

[[gnu::hot]] Result<KObject*> HandleTable::get(uint64_t h, ObjType type, uint32_t needed, uint32_t* rights) {
    TRY_ASSIGN(uint32_t index, slot_of(h));
    HandleSlot& s = slots_[index];
    if (type != ObjType::None && s.object->type != type) return Err::WrongType;
    if ((s.rights & needed) != needed) return Err::Permission;
    if (rights) *rights = s.rights;
    kobject_ref(*s.object);
    return s.object;
}

Result<uint64_t> HandleTable::duplicate(uint64_t h, uint32_t rights) {
    TRY_ASSIGN(uint32_t index, slot_of(h));
    HandleSlot& s = slots_[index];
    if (!(s.rights & RIGHT_DUPLICATE)) return Err::Permission;
    if ((rights & ~s.rights) != 0) return Err::Permission; // rights never grow
    return insert_locked(*s.object, rights);
}

Result<KObject*> HandleTable::close(uint64_t h) {
    TRY_ASSIGN(uint32_t index, slot_of(h));
    HandleSlot& s = slots_[index];
    KObject* obj = s.object;
    // A new generation: this value, and every copy of it, is dead for good
    // (until the 24-bit generation wraps, 16 million closes of one slot).
    s = HandleSlot{nullptr, 0, next_generation(s.generation), free_head_};
    free_head_ = index + 1;
    used_--;
    return obj;
}

[[gnu::hot]] Result<HandleInfo> HandleTable::query(uint64_t h) const {
    TRY_ASSIGN(uint32_t index, slot_of(h));
    return HandleInfo{slots_[index].object->type, slots_[index].rights};
}

void HandleTable::close_all(void (*drop)(KObject*)) {
    while (KObject* obj = take_any())
        if (drop) drop(obj);
}

KObject* HandleTable::take_any() {
    for (uint32_t i = 0; i < capacity_; i++) {
        HandleSlot& s = slots_[i];
        if (!s.object) continue;
        KObject* obj = s.object;
        s = HandleSlot{nullptr, 0, next_generation(s.generation), free_head_};
        free_head_ = i + 1;
        used_--;
        return obj;
    }
    return nullptr;
}

} // namespace virtue
