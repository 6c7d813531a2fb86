// Shared request/response rings between two domains, laid out exactly like
// Xen's public io/ring.h (DEFINE_RING_TYPES), so either side may be a virtue
// domain or a peer built on Xen's macros.
//
//   using Sring = virtue::ring::SharedRing<Req, Rsp>;      // the shared page
//   virtue::ring::FrontRing<Req, Rsp> f; f.init((Sring*)page, 4096);
//   virtue::ring::BackRing<Req, Rsp>  b; b.attach((Sring*)page, 4096);
//
// The front end is the requester: it fills request slots and consumes the
// responses. The back end is the server: it consumes requests and writes each
// response into the slot of a request it has taken. Indices are free-running
// 32-bit counters (wrap-around is normal); slot = index & (size - 1).
//
// Event suppression: a consumer about to sleep writes req_event / rsp_event =
// its consumer index + 1, i.e. "notify me when that entry is published". A
// producer publishes a batch and notifies only if the event index lies inside
// that batch; final_check_*() re-checks after arming, so nothing published in
// between is missed.
//
// Hostile-peer rule: the shared page is written by the other side at any time.
// Copy entries out (take_request / take_response) before validating them; the
// unconsumed_*() counts are capped so a consumer loop always terminates, and a
// peer whose producer index claims impossible counts (*_overflow()) should be
// disconnected.
//
// Freestanding: needs only <stddef.h>, <stdint.h> and compiler builtins (GCC
// may emit a memcpy call for large entries; freestanding code provides one).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace virtue::ring {

using Idx = uint32_t; // Xen's RING_IDX

namespace detail {
// Shared indices are read / written exactly once per use (no tearing, no
// compiler re-reads); ordering comes from the explicit fences around them.
inline Idx load(const Idx& x) { return __atomic_load_n(&x, __ATOMIC_RELAXED); }
inline void store(Idx& x, Idx v) { __atomic_store_n(&x, v, __ATOMIC_RELAXED); }

// Copies an entry out of shared memory once. The compiler fence stops the
// compiler from dropping the copy and re-reading the shared original later,
// which a peer could change between a check and its use.
template <typename T>
inline void copy_out(T& dst, const T& src) {
    __builtin_memcpy(&dst, &src, sizeof(T));
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

inline Idx min(Idx a, Idx b) { return a < b ? a : b; }

// RING_PUSH_*: release, so the peer sees the entries before the index.
inline void publish(Idx& shared_prod, Idx new_prod) {
    __atomic_thread_fence(__ATOMIC_RELEASE);
    store(shared_prod, new_prod);
}

// RING_PUSH_*_AND_CHECK_NOTIFY: publishes, then reports whether the
// consumer's event index lies in the new batch. The full fence: the new
// producer index must be visible before the event index is read, else we
// and a consumer going to sleep could both miss it.
inline bool publish_and_check(Idx& shared_prod, const Idx& shared_event, Idx new_prod) {
    Idx old_prod = load(shared_prod);
    publish(shared_prod, new_prod);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return Idx(new_prod - load(shared_event)) < Idx(new_prod - old_prod);
}

// RING_FINAL_CHECK_FOR_*: true if unconsumed() has more; if not, asks to be
// notified of entry cons + 1 and looks once more. The full fence pairs with
// the producer's in publish_and_check.
template <typename Unconsumed> inline bool final_check(Idx& shared_event, Idx cons, Unconsumed unconsumed) {
    if (unconsumed() != 0) return true;
    store(shared_event, cons + 1);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return unconsumed() != 0;
}
} // namespace detail

template <typename Req, typename Rsp>
struct SharedRing {
    static_assert(__is_trivially_copyable(Req) && __is_trivially_copyable(Rsp),
                  "ring entries are raw shared memory");
    static_assert(__is_standard_layout(Req) && __is_standard_layout(Rsp),
                  "ring entries must have a C layout");

    union Entry {
        Req req;
        Rsp rsp;
    };

    Idx req_prod, req_event; // written by the front end / back end
    Idx rsp_prod, rsp_event; // written by the back end / front end
    uint8_t pvt[4];          // Xen's per-protocol "pvt" union (e.g. netif)
    uint8_t pad[44];         // so entries start where Xen's do
    Entry ring[1];           // really entries_for(shared bytes) entries

    // SHARED_RING_INIT: empty ring, both consumers want the first message.
    void init() {
        detail::store(req_prod, 0);
        detail::store(rsp_prod, 0);
        detail::store(req_event, 1);
        detail::store(rsp_event, 1);
        for (uint8_t& b : pvt) b = 0;
        for (uint8_t& b : pad) b = 0;
    }

    // Entries in a ring occupying `bytes` (header included): as many as fit,
    // rounded down to a power of two so indices can be masked. 0 if none fit.
    static constexpr Idx entries_for(size_t bytes) {
        constexpr size_t head = offsetof(SharedRing, ring);
        if (bytes < head) return 0;
        size_t fit = (bytes - head) / sizeof(Entry);
        if (fit > 0x80000000u) fit = 0x80000000u; // indices are 32-bit
        if (fit == 0) return 0;
        size_t n = 1;
        while (n * 2 <= fit) n *= 2;
        return Idx(n);
    }

    // Slot for index i of a ring with `size` entries (a power of two).
    Entry& slot(Idx i, Idx size) {
        Entry* e = ring; // pointer arithmetic: ring[] really extends further
        return e[i & (size - 1)];
    }
};

// The requester's private state (Xen's front_ring, same field order).
template <typename Req, typename Rsp>
struct FrontRing {
    using Shared = SharedRing<Req, Rsp>;

    Idx req_prod_pvt = 0; // next request slot to fill (not yet visible if > req_prod)
    Idx rsp_cons = 0;     // next response to consume
    Idx nr_ents = 0;
    Shared* sring = nullptr;

    // FRONT_RING_ATTACH (start 0: FRONT_RING_INIT). Leaves the page alone.
    void attach(Shared* s, size_t bytes, Idx start = 0) {
        req_prod_pvt = rsp_cons = start;
        nr_ents = Shared::entries_for(bytes);
        sring = s;
    }
    // XEN_FRONT_RING_INIT: initialises the shared page, then attaches at 0.
    void init(Shared* s, size_t bytes) {
        s->init();
        attach(s, bytes);
    }

    Idx size() const { return nr_ents; }
    Idx free_requests() const { return nr_ents - (req_prod_pvt - rsp_cons); }
    bool full() const { return free_requests() == 0; }

    Req* request(Idx i) { return &sring->slot(i, nr_ents).req; }
    Rsp* response(Idx i) { return &sring->slot(i, nr_ents).rsp; }
    // The next free request slot (claimed, published by push_*), or nullptr if full.
    Req* next_request() { return full() ? nullptr : request(req_prod_pvt++); }

    // RING_PUSH_REQUESTS.
    void push_requests() { detail::publish(sring->req_prod, req_prod_pvt); }
    // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: true if the back end must be notified.
    bool push_requests_and_check_notify() {
        return detail::publish_and_check(sring->req_prod, sring->req_event, req_prod_pvt);
    }

    // Published, not yet consumed responses. Capped at the requests we have
    // outstanding (each response answers one), so a hostile back end cannot
    // make a consumer loop run on; Xen's macro is not capped.
    Idx unconsumed_responses() const {
        Idx prod = detail::load(sring->rsp_prod);
        // Acquire: response contents read after this are at least as new as prod.
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        return detail::min(prod - rsp_cons, req_prod_pvt - rsp_cons);
    }
    // The back end claims more responses than we have outstanding requests
    // (stricter than Xen's RING_RESPONSE_PROD_OVERFLOW, which allows size).
    bool responses_overflow() const {
        return detail::load(sring->rsp_prod) - rsp_cons > req_prod_pvt - rsp_cons;
    }
    // Copies the next response into `out` and consumes it; false if none.
    bool take_response(Rsp& out) {
        if (unconsumed_responses() == 0) return false;
        detail::copy_out(out, *response(rsp_cons));
        ++rsp_cons;
        return true;
    }
    // RING_FINAL_CHECK_FOR_RESPONSES: true if there is more to consume; if
    // not, the back end has been asked to notify on the next response.
    bool final_check_for_responses() {
        return detail::final_check(sring->rsp_event, rsp_cons, [this] { return unconsumed_responses(); });
    }
};

// The server's private state (Xen's back_ring, same field order).
template <typename Req, typename Rsp>
struct BackRing {
    using Shared = SharedRing<Req, Rsp>;

    Idx rsp_prod_pvt = 0; // next response slot to fill
    Idx req_cons = 0;     // next request to consume
    Idx nr_ents = 0;
    Shared* sring = nullptr;

    // BACK_RING_ATTACH (start 0: BACK_RING_INIT). Only the front end
    // initialises the shared page.
    void attach(Shared* s, size_t bytes, Idx start = 0) {
        rsp_prod_pvt = req_cons = start;
        nr_ents = Shared::entries_for(bytes);
        sring = s;
    }

    Idx size() const { return nr_ents; }
    Req* request(Idx i) { return &sring->slot(i, nr_ents).req; }
    Rsp* response(Idx i) { return &sring->slot(i, nr_ents).rsp; }
    // The slot for the next response, or nullptr if every request taken so
    // far has been answered (a response may only reuse a consumed request's slot).
    Rsp* next_response() { return rsp_prod_pvt == req_cons ? nullptr : response(rsp_prod_pvt++); }

    // Published, not yet consumed requests, exactly as Xen counts them: capped
    // by the slots not holding requests we took but have not answered, so the
    // count never exceeds the ring size whatever req_prod says.
    Idx unconsumed_requests() const {
        Idx prod = detail::load(sring->req_prod);
        // Acquire: request contents read after this are at least as new as prod.
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        return detail::min(prod - req_cons, nr_ents - (req_cons - rsp_prod_pvt));
    }
    // RING_REQUEST_PROD_OVERFLOW on the current req_prod: the front end claims
    // more requests than the ring can hold. Refuse (disconnect) such a peer.
    bool requests_overflow() const {
        return detail::load(sring->req_prod) - rsp_prod_pvt > nr_ents;
    }
    // RING_REQUEST_CONS_OVERFLOW: consuming index `cons` would overrun slots
    // still waiting for their responses (loop termination condition).
    bool cons_overflow(Idx cons) const { return cons - rsp_prod_pvt >= nr_ents; }

    // Copies the next request into `out` and consumes it; false if none.
    bool take_request(Req& out) {
        if (unconsumed_requests() == 0) return false;
        detail::copy_out(out, *request(req_cons));
        ++req_cons;
        return true;
    }

    // RING_PUSH_RESPONSES.
    void push_responses() { detail::publish(sring->rsp_prod, rsp_prod_pvt); }
    // RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: true if the front end must be notified.
    bool push_responses_and_check_notify() {
        return detail::publish_and_check(sring->rsp_prod, sring->rsp_event, rsp_prod_pvt);
    }
    // RING_FINAL_CHECK_FOR_REQUESTS: true if there is more to consume; if not,
    // the front end has been asked to notify on the next request.
    bool final_check_for_requests() {
        return detail::final_check(sring->req_event, req_cons, [this] { return unconsumed_requests(); });
    }
};

} // namespace virtue::ring
