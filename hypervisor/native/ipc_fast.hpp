// The entry's fast path for ipc_call (implemented in native/ipc.cpp): the
// common case of a call carrying no handle to an endpoint on which exactly
// one server thread waits, on this CPU, with nothing queued. It skips the
// generated glue's table dispatch and the endpoint's queue: the message
// goes from the caller's buffer into the waiting server's record
// (ipc/endpoint.hpp, ipc_call_direct), and this CPU goes straight to the
// server. Every other case (a handle carried, no server or several waiting,
// a server on another CPU, a call already queued, a dead endpoint, any
// argument the glue would refuse) is left to the ordinary path untouched.
#pragma once

#include <stdint.h>

#include "arch/descriptors.hpp"
#include "lib/result.hpp"

namespace virtue::native {

// true: taken, the call's outcome in *result (for the glue's error
// translation). false: nothing has changed; run the call as usual.
bool ipc_call_fast(const arch::InterruptFrame& args, CallResult* result);

} // namespace virtue::native
