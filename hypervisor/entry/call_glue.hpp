// What the generated glue of both hypercall families (build/gen/hypervisor/
// {native,xen}_dispatch.hpp) builds on: the raw arguments, the set of errors
// a call declares, the kinds of caller, and the one place where a handler's
// Err becomes the errno the caller sees.
#pragma once

#include <stdint.h>

#include "arch/descriptors.hpp"
#include "lib/result.hpp"

namespace virtue {

// A call's arguments: the caller's saved registers (rdi, rsi, rdx, r10,
// r8, r9), untrusted. The glue reads the ones a call has straight from the
// frame (no copy on the entry's path).
using CallArgs = arch::InterruptFrame;

// A set of Xen errno values (all below 128), as a call's definition lists them.
class ErrnoSet {
  public:
    constexpr ErrnoSet() = default;
    constexpr ErrnoSet with(int errno_value) const {
        ErrnoSet s = *this;
        s.bits_[errno_value / 64] |= uint64_t{1} << (errno_value % 64);
        return s;
    }
    constexpr bool contains(int errno_value) const {
        return errno_value >= 0 && errno_value < 128 && (bits_[errno_value / 64] >> (errno_value % 64)) & 1;
    }

  private:
    uint64_t bits_[2] = {0, 0};
};

// Who made a `syscall`: decides which table the number is looked up in.
enum class CallerKind : uint8_t {
    Native,   // a native domain's thread: both families
    PvKernel, // a Xen PV guest's kernel: the Xen family
    PvUser,   // a Xen PV guest's user space: its own system call, bounced to its kernel
};
constexpr uint8_t caller_bit(CallerKind k) { return static_cast<uint8_t>(1u << static_cast<uint8_t>(k)); }

// The value for rax when call `name` of `family` fails with e: its Xen
// errno. In debug builds an errno that the call's definition does not list
// (`declared`) is a hypervisor bug and panics.
int64_t abi_error(const char* family, const char* name, ErrnoSet declared, Err e);

} // namespace virtue
