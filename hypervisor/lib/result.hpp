// Typed results for hypervisor-internal code.
//
// Every fallible function returns Result<T> (or Status) and callers must look
// at it ([[nodiscard]]). Errors stay typed inside the hypervisor and become
// Xen errno values only at the hypercall boundary (one translation point).
#pragma once

#include <stdint.h>
#include <type_traits>
#include <new>

namespace virtue {

// The values and their meanings are listed once, in lib/errors.def, with
// the Xen errno each becomes at the boundary (lib/xen_errno.hpp).
enum class Err : uint8_t {
#define ERR(name, xen_errno, grant_status, text) name,
#include "lib/errors.def"
#undef ERR
};

// Human-readable name for logs.
const char* err_name(Err e);

template <typename T>
class [[nodiscard]] Result {
    static_assert(!std::is_reference_v<T>);
  public:
    Result(const T& v) : ok_(true) { new (&storage_) T(v); }
    Result(Err e) : ok_(false), err_(e) {}
    // For a trivially copyable T (handles, numbers, pointers) the Result is
    // trivially copyable too, so it comes back from a call in registers:
    // that keeps the hypercall path's CallResult as cheap as an int64_t.
    Result(const Result& o)
        requires std::is_trivially_copyable_v<T>
    = default;
    Result(const Result& o)
        requires(!std::is_trivially_copyable_v<T>)
        : ok_(o.ok_), err_(o.err_) {
        if (ok_) new (&storage_) T(*o.ptr());
    }
    Result& operator=(const Result& o)
        requires std::is_trivially_copyable_v<T>
    = default;
    Result& operator=(const Result& o)
        requires(!std::is_trivially_copyable_v<T>)
    {
        if (this != &o) {
            destroy();
            ok_ = o.ok_;
            err_ = o.err_;
            if (ok_) new (&storage_) T(*o.ptr());
        }
        return *this;
    }
    ~Result()
        requires std::is_trivially_copyable_v<T>
    = default;
    ~Result()
        requires(!std::is_trivially_copyable_v<T>)
    {
        destroy();
    }

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    Err error() const { return err_; }
    T& value() { return *ptr(); }
    const T& value() const { return *ptr(); }
    T* operator->() { return ptr(); }
    const T* operator->() const { return ptr(); }
    T& operator*() { return *ptr(); }
    const T& operator*() const { return *ptr(); }

  private:
    T* ptr() { return reinterpret_cast<T*>(&storage_); }
    const T* ptr() const { return reinterpret_cast<const T*>(&storage_); }
    void destroy() {
        if (ok_) ptr()->~T();
    }
    alignas(T) unsigned char storage_[sizeof(T)] = {}; // zeroed: a copied error carries no stale bytes
    bool ok_;
    Err err_ = Err::InvalidArgument;
};

// Result without a value.
class [[nodiscard]] Status {
  public:
    Status() : ok_(true) {}
    Status(Err e) : ok_(false), err_(e) {}
    static Status success() { return Status(); }
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    Err error() const { return err_; }

  private:
    bool ok_;
    Err err_ = Err::InvalidArgument;
};

// What a hypercall handler returns: its non-negative result, or the Err
// that the boundary turns into a Xen errno (lib/xen_errno.hpp).
using CallResult = Result<uint64_t>;

} // namespace virtue

// Early return on error: TRY(expr) for Status, TRY_ASSIGN(var, expr) for Result<T>.
#define VIRTUE_CONCAT_(a, b) a##b
#define VIRTUE_CONCAT(a, b) VIRTUE_CONCAT_(a, b)
#define TRY(expr)                                                              \
    do {                                                                       \
        auto virtue_try_ = (expr);                                             \
        if (!virtue_try_.ok()) return virtue_try_.error();                     \
    } while (0)
#define TRY_ASSIGN(var, expr)                                                  \
    auto VIRTUE_CONCAT(virtue_res_, __LINE__) = (expr);                        \
    if (!VIRTUE_CONCAT(virtue_res_, __LINE__).ok())                            \
        return VIRTUE_CONCAT(virtue_res_, __LINE__).error();                   \
    var = VIRTUE_CONCAT(virtue_res_, __LINE__).value()
