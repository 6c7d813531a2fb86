// The hypervisor's end of a PV guest's console ring (xen/io/console.h): the
// guest's output is drained from out[], input goes into in[]. The page is
// the guest's, so its indices are untrusted: they are read once per call,
// checked (the producer may be at most a ring ahead of the consumer), and
// every byte position is masked into the ring. Free-running 32-bit
// indices, as the protocol has them.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/io/console.h>

#include "lib/result.hpp"

namespace virtue::xen {

// Copies up to `max` bytes of published output to `buf` and consumes them
// (out_cons advances). Err::InvalidArgument: the guest's indices are
// impossible (more than a ring's worth published); nothing is consumed.
Result<size_t> console_ring_drain(xencons_interface& ring, char* buf, size_t max);

// Appends up to `len` bytes of input where the guest's consumer leaves
// room; returns how many fit. Err::InvalidArgument as above.
// console_ring_room: how many would fit now (the guest only makes more).
Result<size_t> console_ring_feed(xencons_interface& ring, const char* data, size_t len);
Result<size_t> console_ring_room(const xencons_interface& ring);

} // namespace virtue::xen
