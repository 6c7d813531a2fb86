// Stack protector support.
//
// Debian's libfdt.a is built with -fstack-protector-strong and reads its
// canary at %fs:0x28. Every thread's FS base points at its own thread block
// (runtime/start.cpp: the native call set_tls_base), whose word at 0x28 holds
// the canary. The SDK's own code is built without the protector; code built
// with -mstack-protector-guard=global uses __stack_chk_guard instead.
#include <stdint.h>

#include "virtue/sdk.hpp"

extern "C" {

// The classic terminator canary (NUL, LF, CR, 0xff bytes), which string
// overflows cannot reproduce.
extern const uintptr_t __stack_chk_guard; // (a const object is internal without this)
const uintptr_t __stack_chk_guard = 0xff0a0d00ff0a0d00ull;

[[noreturn]] void __stack_chk_fail() { virtue::panic("stack protector: stack smashed"); }

} // extern "C"
