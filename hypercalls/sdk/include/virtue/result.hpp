// virtue::Result<T>: what the typed native calls (virtue::sys) and the
// objects of <virtue/objects.hpp> return: a value, or a virtue::Errno
// (generated: <virtue/native_errno.hpp>; Errno::einval is Xen's EINVAL, 22).
//
//   virtue::Result<uint64_t> r = virtue::sys::memory_create(16, 0);
//   if (!r) virtue::print("memory_create: %s\n", r.error_name());   // "ENOMEM"
//   else use(*r);
//   if (r.error() == virtue::Errno::emfile) ...
//
//   VIRTUE_TRY(as.map(...));  // in a function returning a Result: passes the error on
//
// T is a plain value (an integer, a small struct). Owning objects (handles)
// are returned through an out parameter with a Result<void>.
#pragma once

#include <stdint.h>

#include <virtue/native_errno.hpp>

namespace virtue {
// The SDK's types live in the inline namespace virtue::sdk: authors name them
// virtue::Result & co., and the host unit tests, which link hypervisor code
// with its own virtue::Result (hypervisor/lib/result.hpp), get two distinct
// templates instead of one name with two definitions.
inline namespace sdk {

template <typename T = uint64_t> class [[nodiscard]] Result {
  public:
    constexpr Result(T value) : value_(value), ok_(true) {}
    constexpr Result(Errno e) : error_(e), ok_(false) {}

    // A raw call's return: >= 0 is the value, below 0 a negated Xen errno.
    static constexpr Result from_raw(int64_t rc) {
        if (rc < 0) return Result(static_cast<Errno>(-rc));
        return Result(static_cast<T>(rc));
    }

    constexpr bool ok() const { return ok_; }
    constexpr explicit operator bool() const { return ok_; }
    // The value; only meaningful when ok().
    constexpr const T& value() const { return value_; }
    constexpr const T& operator*() const { return value_; }
    constexpr const T* operator->() const { return &value_; }
    constexpr T value_or(T fallback) const { return ok_ ? value_ : fallback; }
    // The error; only meaningful when !ok().
    constexpr Errno error() const { return error_; }
    // "EINVAL" & co., or "ok" on success.
    constexpr const char* error_name() const { return ok_ ? "ok" : name(error_); }
    // Back to the ABI's form (for integer T): the value, or the negated errno.
    constexpr int64_t raw() const { return ok_ ? static_cast<int64_t>(value_) : -static_cast<int64_t>(error_); }

  private:
    T value_{};
    Errno error_{};
    bool ok_;
};

// Success with no value, or an Errno.
template <> class [[nodiscard]] Result<void> {
  public:
    constexpr Result() = default;
    constexpr Result(Errno e) : error_(e), ok_(false) {}
    // Keeps only whether r succeeded (a call's value that means nothing
    // more than success, such as the 0 of thread_start).
    template <typename U> constexpr Result(const Result<U>& r) : error_(r.error()), ok_(r.ok()) {}

    static constexpr Result from_raw(int64_t rc) { return rc < 0 ? Result(static_cast<Errno>(-rc)) : Result(); }

    constexpr bool ok() const { return ok_; }
    constexpr explicit operator bool() const { return ok_; }
    constexpr Errno error() const { return error_; }
    constexpr const char* error_name() const { return ok_ ? "ok" : name(error_); }
    // 0, or the negated errno.
    constexpr int64_t raw() const { return ok_ ? 0 : -static_cast<int64_t>(error_); }

  private:
    Errno error_{};
    bool ok_ = true;
};

} // namespace sdk
} // namespace virtue

// Evaluates expr (a Result); on failure returns its error from the enclosing
// function, which must return a Result.
#define VIRTUE_TRY(expr)                                                                                             \
    do {                                                                                                             \
        if (auto virtue_try_result_ = (expr); !virtue_try_result_) return virtue_try_result_.error();               \
    } while (0)
