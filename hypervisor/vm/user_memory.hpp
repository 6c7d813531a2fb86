// Access to the calling domain's memory from hypercalls.
//
// Every pointer a domain passes is an untrusted integer. A range is usable
// only if it lies wholly in the caller's half without wrapping ([0,
// USER_LIMIT); for a Xen PV guest also [PV_GUEST_UPPER_START, 2^64)), and every page
// of it is mapped user-accessible in the calling thread's address space (writable
// for outputs) — checked before anything is copied, so a refused call has
// no effect. The copy itself still recovers from a fault (another thread
// of the domain may change its mappings meanwhile) with Err::Fault.
//
// Hypercall handlers see user pointers as UserPtr<T> (one T) and
// UserSpan<T> (a counted array of T): the generated glue has already
// checked their alignment (alignof(T)) and, for spans, the count's limits;
// the range and mapping checks happen at each access.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <type_traits>

#include "arch/user_entry.hpp"
#include "domain/thread.hpp"
#include "lib/result.hpp"
#include "sched/scheduler.hpp"

namespace virtue {

enum class UserAccess { Read, Write };

// True if [addr, addr+len) passes the range and mapping checks (len 0: true).
bool user_range_ok(uint64_t addr, uint64_t len, UserAccess access);

namespace user_memory_detail {
// Whether [addr, addr + len) (len > 0) lies where thread t's own memory can
// be: a native domain's in the lower half; a PV guest's in either half but
// never in the hypervisor's range of the upper half (its L4 slots
// 256-271), and never across a hole.
inline bool range_in_guest_half(const Thread& t, uint64_t addr, uint64_t len) {
    if (addr < arch::USER_LIMIT) return len <= arch::USER_LIMIT - addr;
    if (t.guest_mode == GuestMode::Native) return false;
    return addr >= arch::PV_GUEST_UPPER_START && len - 1 <= ~addr; // (no wrap past 2^64)
}
Status copy_from_user_walked(void* dst, uint64_t user_src, uint64_t len);
Status copy_to_user_walked(uint64_t user_dst, const void* src, uint64_t len);
} // namespace user_memory_detail

// Err::Fault, or success. Both check first, then copy. A native domain's
// tables are walked first (user_range_ok). A PV guest's need no walk, so
// its copies are inline: every present entry in its part of the address
// space carries U (the PV MMU sets it on each entry it accepts), so the
// CPU's own checks during the copy (CR0.WP for writes, and a fault
// recovered by copy_user_bytes for anything absent) refuse exactly what
// the walk would.
inline Status copy_from_user(void* dst, uint64_t user_src, uint64_t len) {
    const Thread& t = *current_thread();
    if (t.guest_mode == GuestMode::Native) return user_memory_detail::copy_from_user_walked(dst, user_src, len);
    if (len && (!user_memory_detail::range_in_guest_half(t, user_src, len) ||
                copy_user_bytes(dst, reinterpret_cast<const void*>(user_src), len) != 0))
        return Err::Fault;
    return Status::success();
}
inline Status copy_to_user(uint64_t user_dst, const void* src, uint64_t len) {
    const Thread& t = *current_thread();
    if (t.guest_mode == GuestMode::Native) return user_memory_detail::copy_to_user_walked(user_dst, src, len);
    if (len && (!user_memory_detail::range_in_guest_half(t, user_dst, len) ||
                copy_user_bytes(reinterpret_cast<void*>(user_dst), src, len) != 0))
        return Err::Fault;
    return Status::success();
}

// A user address holding one T (const T: the call only reads it).
template <typename T> class UserPtr {
  public:
    using Value = std::remove_const_t<T>;
    static constexpr bool kWritable = !std::is_const_v<T>;

    constexpr explicit UserPtr(uint64_t addr) : addr_(addr) {}
    static constexpr bool aligned(uint64_t addr) { return (addr & (alignof(Value) - 1)) == 0; }

    uint64_t addr() const { return addr_; }
    bool null() const { return addr_ == 0; }
    Status read(Value& out) const { return copy_from_user(&out, addr_, sizeof(Value)); }
    Status write(const Value& v) const
        requires kWritable
    {
        return copy_to_user(addr_, &v, sizeof(Value));
    }
    // Whether the whole T may be written now (for calls that must not act
    // before they know their answer can be stored).
    bool writable() const
        requires kWritable
    {
        return user_range_ok(addr_, sizeof(Value), UserAccess::Write);
    }
    // A field of the T, by its offset (offsetof).
    template <typename F> UserPtr<F> field(size_t offset) const { return UserPtr<F>(addr_ + offset); }

  private:
    uint64_t addr_;
};

// A user address holding `count` Ts.
template <typename T> class UserSpan {
  public:
    using Value = std::remove_const_t<T>;

    constexpr UserSpan(uint64_t addr, uint64_t count) : addr_(addr), count_(count) {}
    static constexpr bool aligned(uint64_t addr) { return UserPtr<T>::aligned(addr); }

    uint64_t addr() const { return addr_; }
    uint64_t size() const { return count_; }
    uint64_t bytes() const { return count_ * sizeof(Value); }
    UserPtr<T> operator[](uint64_t i) const { return UserPtr<T>(addr_ + i * sizeof(Value)); }
    Status read_all(Value* out) const { return copy_from_user(out, addr_, bytes()); }
    Status write_all(const Value* in, uint64_t n) const
        requires(!std::is_const_v<T>)
    {
        return copy_to_user(addr_, in, n * sizeof(Value));
    }
    bool writable() const { return user_range_ok(addr_, bytes(), UserAccess::Write); }

  private:
    uint64_t addr_;
    uint64_t count_;
};

} // namespace virtue
