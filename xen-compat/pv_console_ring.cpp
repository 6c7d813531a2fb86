// The hypervisor's end of a PV console ring (pv_console_ring.hpp).
#include "pv_console_ring.hpp"

namespace virtue::xen {
namespace {

constexpr uint32_t kOutSize = sizeof(xencons_interface::out);
constexpr uint32_t kInSize = sizeof(xencons_interface::in);
static_assert((kOutSize & (kOutSize - 1)) == 0 && (kInSize & (kInSize - 1)) == 0, "rings are powers of two");

} // namespace

Result<size_t> console_ring_drain(xencons_interface& ring, char* buf, size_t max) {
    // The guest publishes out_prod after its bytes (a write barrier on its
    // side): acquire, then read the bytes.
    const XENCONS_RING_IDX prod = __atomic_load_n(&ring.out_prod, __ATOMIC_ACQUIRE);
    const XENCONS_RING_IDX cons = __atomic_load_n(&ring.out_cons, __ATOMIC_RELAXED);
    const uint32_t pending = prod - cons;
    if (pending > kOutSize) return Err::InvalidArgument;
    const size_t n = pending < max ? pending : max;
    for (size_t i = 0; i < n; i++) buf[i] = __atomic_load_n(&ring.out[(cons + i) & (kOutSize - 1)], __ATOMIC_RELAXED);
    // The bytes are read before the guest may reuse their slots.
    __atomic_store_n(&ring.out_cons, static_cast<XENCONS_RING_IDX>(cons + n), __ATOMIC_RELEASE);
    return n;
}

Result<size_t> console_ring_room(const xencons_interface& ring) {
    const XENCONS_RING_IDX cons = __atomic_load_n(&ring.in_cons, __ATOMIC_ACQUIRE);
    const XENCONS_RING_IDX prod = __atomic_load_n(&ring.in_prod, __ATOMIC_RELAXED);
    const uint32_t used = prod - cons;
    if (used > kInSize) return Err::InvalidArgument;
    return kInSize - used;
}

Result<size_t> console_ring_feed(xencons_interface& ring, const char* data, size_t len) {
    const XENCONS_RING_IDX cons = __atomic_load_n(&ring.in_cons, __ATOMIC_ACQUIRE);
    const XENCONS_RING_IDX prod = __atomic_load_n(&ring.in_prod, __ATOMIC_RELAXED);
    const uint32_t used = prod - cons;
    if (used > kInSize) return Err::InvalidArgument;
    const size_t room = kInSize - used;
    const size_t n = len < room ? len : room;
    for (size_t i = 0; i < n; i++) __atomic_store_n(&ring.in[(prod + i) & (kInSize - 1)], data[i], __ATOMIC_RELAXED);
    // The bytes are in place before the guest can see the new producer.
    __atomic_store_n(&ring.in_prod, static_cast<XENCONS_RING_IDX>(prod + n), __ATOMIC_RELEASE);
    return n;
}

} // namespace virtue::xen
