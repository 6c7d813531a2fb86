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

#include "lib/result.hpp"

namespace virtue {

enum class UserAccess { Read, Write };

// True if [addr, addr+len) passes the range and mapping checks (len 0: true).
bool user_range_ok(uint64_t addr, uint64_t len, UserAccess access);

// Err::Fault, or success. Both check first, then copy.
Status copy_from_user(void* dst, uint64_t user_src, uint64_t len);
Status copy_to_user(uint64_t user_dst, const void* src, uint64_t len);

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
