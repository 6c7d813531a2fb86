// Synchronous IPC for native domains: endpoints, call / wait / reply
// ("Hype and Virtue": synchronous calls beside asynchronous events).
//
// A server creates an endpoint naming the one domain that may connect to
// it (as an unbound event channel names its peer); that domain connects
// by (server domid, endpoint number) and gets a call-only handle. The
// permission check happens there, once. A call carries a message of four
// words and optionally one handle; the client blocks until a server thread
// replies. A server thread waits on the endpoint, receives one call at a
// time (it owns the reply until it answers: the seL4 reply-capability
// model without a capability), and replies, or replies and waits in one
// call. Direct hand-off: when exactly one thread waits on the other side
// (the server on the endpoint, the client on its reply), the side that
// blocks hands its CPU straight to it (sched_block_handoff), skipping the
// run queue. Direct delivery: a server waiting in ipc_wait publishes an
// IpcFastWait record, and a client that finds it the only waiter with
// nothing queued hands it the call there (ipc_call_direct), so that the
// server takes it without looking at the queue again. The entry's fast
// path (native/ipc_fast.hpp) is built on both.
//
// The hypervisor never waits for either side: a client that is killed, or
// whose domain dies, abandons its call (the server's reply then fails with
// -ESRCH); an endpoint whose domain dies fails every queued call and every
// later call with -ENOTCONN; a server thread that exits, or waits again,
// without replying fails its call with -ENOTCONN.
//
// Lifetimes: an IpcCall is shared by the client (until it returns) and the
// endpoint queue or the receiving server thread, refcounted. An Endpoint is
// a KObject named by handles in the server's and the client's domains; it
// does not hold either domain (after its server's death it only fails).
//
// Locking: Endpoint::lock guards the queue, `dead` and `owner`; the
// queue's readiness for servers also takes `servers`' Waitable lock inside
// it; an IpcCall's state is under its `done` Waitable lock, taken after
// Endpoint::lock (never two Waitable locks at once). A waiting server's
// IpcFastWait record is read and written under `servers`' lock while the
// server is enlisted there.
#pragma once

#include <stdint.h>
#include <xen/xen.h>

#include "cap/handle_table.hpp"
#include "lib/intrusive_queue.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "sched/wait.hpp"

namespace virtue {

struct Domain;
struct Thread;

inline constexpr uint32_t kIpcWords = 4;

struct IpcMessage {
    uint64_t words[kIpcWords] = {};
    KObject* carried = nullptr; // a handle in transit: its object (one reference) ...
    uint32_t carried_rights = 0; // ... and its rights
    domid_t sender = DOMID_INVALID;
};

enum class CallState : uint8_t { Queued, Received, Replied, Failed, Abandoned };

struct IpcCall {
    uint32_t refs = 2;       // the client's, and the queue's (then the server's)
    Waitable done;           // the client waits here: ready once Replied or Failed
    CallState state = CallState::Queued;
    Err error = Err::NotConnected; // Failed: why
    IpcMessage msg;          // the request, then the reply
    IpcCall* next = nullptr; // the endpoint's queue (under Endpoint::lock)
};

struct Endpoint {
    KObject kobj{ObjType::Endpoint, 1, nullptr};
    SpinLock lock{LockRank::Endpoint};
    Waitable servers;            // ready while a call is queued or the endpoint is dead
    Domain* owner = nullptr;     // nullptr once dead
    domid_t owner_id = DOMID_INVALID;
    domid_t client = DOMID_INVALID; // who may connect
    uint32_t number = 0;         // in the owner's endpoint list (connect)
    bool dead = false;
    IntrusiveQueue<IpcCall, &IpcCall::next> queue;
    Endpoint* next_in_domain = nullptr; // Domain::endpoints (under Domain::lock)
};

inline constexpr uint32_t kMaxEndpointsPerDomain = 64;

// A server thread's record while it waits in ipc_wait (on its stack, named
// by Thread::ipc_fast; read and written under the endpoint's `servers`
// lock while the thread is enlisted there): a client may deliver a call
// into it directly. Once `delivered`, the call is the thread's reply_to
// and `msg` holds its message (never a carried handle).
struct IpcFastWait {
    Endpoint* ep = nullptr;
    bool delivered = false;
    IpcMessage msg;
};

// A new endpoint of d that domain `client` may connect to. Err::NoSpace: d
// has kMaxEndpointsPerDomain; Err::NoMemory; Err::NoSuchDomain: d is dying.
Result<Endpoint*> endpoint_create(Domain& d, domid_t client);
// The endpoint `number` of domain `server`, for `client` (a reference),
// waiting until deadline_ns (0: not at all) for it to be made (only for a
// number not given out yet: a closed endpoint's number never comes back).
// Err::NoSuchDomain: no such live domain (or it died meanwhile);
// Err::NotFound: no such endpoint (yet); Err::NotPermitted: not for this
// client; Err::TimedOut / Err::Interrupted: the wait ended first.
Result<Endpoint*> endpoint_connect(domid_t server, uint32_t number, domid_t client, uint64_t deadline_ns);

// The client side: queues msg (its carried handle moves with it), blocks
// until replied; the reply replaces msg. Err::NotConnected (no server any
// more), Err::Interrupted (the call is abandoned), Err::NoMemory.
Status ipc_call(Endpoint& ep, IpcMessage& msg);

// The same call delivered directly (the entry's fast path): only when the
// one thread waiting on ep is a server in ipc_wait (its IpcFastWait
// published), nothing is queued, ep is alive and msg carries no handle.
// Then that server receives the call at once (no queue) and, when it can
// run on this CPU, gets the CPU straight away; the client waits for the
// reply as ipc_call does and *taken is true. Otherwise nothing has changed
// and *taken is false (the caller takes ipc_call). Err as ipc_call.
Status ipc_call_direct(Endpoint& ep, IpcMessage& msg, bool* taken);

// The server side: waits (until deadline_ns) for a call and receives it
// into msg; the call becomes the thread's to answer. Err::TimedOut,
// Err::Interrupted, or Err::NotConnected (the endpoint is dead). `handoff`: a
// client ipc_reply left to wake (the reply-and-wait fast path).
Status ipc_wait(Endpoint& ep, uint64_t deadline_ns, IpcMessage& msg, Thread* handoff = nullptr);

// Answers the calling thread's received call with msg. Err::InvalidArgument
// (no call to answer), Err::Exited (the client has gone: msg's handle is
// dropped). With
// `handoff`, a lone waiting client is not woken but returned there (with a
// handoff reference, which ipc_wait consumes), for the caller's next
// ipc_wait to hand its CPU to.
Status ipc_reply(IpcMessage& msg, Thread** handoff = nullptr);

// Fails the thread's received call, if any (the thread exits, or waits
// again without replying).
void ipc_drop_reply(Thread& t);

// The running thread t exits: fails its received call (ipc_drop_reply)
// and frees the call object it kept for its next call.
void ipc_thread_exit(Thread& t);

// Domain death: its endpoints die (queued calls fail with Err::NotConnected).
void endpoint_domain_dying(Domain& d);

// How many calls were delivered directly (ipc_call_direct: the fast
// path's hits) and how many went through an endpoint's queue, since boot
// (logged when the last domain has gone, for tests and make bench).
struct IpcCallCounts {
    uint64_t direct = 0;
    uint64_t queued = 0;
};
IpcCallCounts ipc_call_counts();

} // namespace virtue
