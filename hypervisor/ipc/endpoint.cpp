// Synchronous IPC (ipc/endpoint.hpp).
#include "ipc/endpoint.hpp"

#include "domain/domain.hpp"
#include "mm/memory.hpp"
#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

namespace virtue {
namespace {

Endpoint& endpoint_of(KObject* o) { return kobject_cast<Endpoint>(o); }

void drop_carried(IpcMessage& m) {
    if (m.carried) kobject_unref(*m.carried);
    m.carried = nullptr;
}

void call_unref(IpcCall* c) {
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    drop_carried(c->msg);
    c->~IpcCall();
    (void)heap_free(c);
}

bool call_answered(Waitable& w, void*) {
    IpcCall& c = *reinterpret_cast<IpcCall*>(reinterpret_cast<char*>(&w) - offsetof(IpcCall, done));
    return c.state == CallState::Replied || c.state == CallState::Failed;
}

bool has_call_or_dead(Waitable& w, void*) {
    Endpoint& e = *reinterpret_cast<Endpoint*>(reinterpret_cast<char*>(&w) - offsetof(Endpoint, servers));
    return !e.queue.empty() || e.dead;
}

// Ends a call the client still waits for (Queued or Received) with an error.
void fail_call(IpcCall& c, Err error) {
    IrqLockGuard guard(c.done.lock);
    if (c.state != CallState::Queued && c.state != CallState::Received) return;
    c.state = CallState::Failed;
    c.error = error;
    c.done.wake_all_locked();
}

// The fast path's partner: the only thread waiting on `w`, with a
// reference, to be woken by a handoff instead of now; or nullptr after
// waking every waiter the ordinary way. Under w.lock.
Thread* wake_or_pick_locked(Waitable& w) {
    Waiter* only = w.waiters;
    if (only && !only->next)
        if (Thread* t = sched_handoff_ref(*only->thread)) return t;
    w.wake_all_locked();
    return nullptr;
}

// Under e.lock (and so the queue's readiness under `servers`' lock).
// Returns the server thread to hand the CPU to, if any (see above).
Thread* enqueue_locked(Endpoint& e, IpcCall& c) {
    IrqLockGuard ready(e.servers.lock);
    e.queue.push_back(c);
    return wake_or_pick_locked(e.servers);
}

IpcCall* pop_locked(Endpoint& e) {
    IrqLockGuard ready(e.servers.lock);
    return e.queue.pop();
}

// Takes c off e's queue; false if it was not queued (any more).
bool unlink_locked(Endpoint& e, IpcCall& c) {
    IrqLockGuard ready(e.servers.lock);
    return e.queue.remove(c);
}

void unlink_from_domain_locked(Domain& d, Endpoint& e) {
    for (Endpoint** p = &d.endpoints; *p; p = &(*p)->next_in_domain)
        if (*p == &e) {
            *p = e.next_in_domain;
            d.endpoint_count--;
            return;
        }
}

void destroy_endpoint(KObject* o) {
    Endpoint& e = endpoint_of(o);
    // A live owner may still list it: find it by the id (never through
    // e.owner, which may name a domain already freed), and unlist it if it
    // is still that domain's.
    {
        if (auto d = domain_get(e.owner_id)) {
            {
                IrqLockGuard guard((*d)->lock);
                IrqLockGuard ep_guard(e.lock);
                if (e.owner == *d) unlink_from_domain_locked(**d, e);
            }
            domain_put(**d);
        }
    }
    e.~Endpoint();
    (void)heap_free(&e);
}

struct GenerationWait {
    Domain* d;
    uint32_t seen;
};

bool endpoints_changed(Waitable&, void* ctx) {
    auto& w = *static_cast<GenerationWait*>(ctx);
    return w.d->endpoint_generation.load(MemOrder::Acquire) != w.seen;
}

// Under d.lock, then the waiters of endpoint_events woken.
void endpoints_changed_locked(Domain& d) {
    d.endpoint_generation.fetch_add(1, MemOrder::Release);
}

void wake_connectors(Domain& d) {
    IrqLockGuard guard(d.endpoint_events.lock);
    d.endpoint_events.wake_all_locked();
}

} // namespace

Result<Endpoint*> endpoint_create(Domain& d, domid_t client) {
    auto mem = heap_alloc(sizeof(Endpoint));
    if (!mem) return mem.error();
    Endpoint* e = new (*mem) Endpoint();
    e->kobj.destroy = destroy_endpoint;
    e->servers.ready = nullptr;
    e->client = client;
    e->owner = &d;
    e->owner_id = d.id;
    Err err = Err::NoSuchDomain;
    bool made = false;
    {
        IrqLockGuard guard(d.lock);
        if (!d.dying() && !d.endpoints_closed) {
            if (d.endpoint_count >= kMaxEndpointsPerDomain) {
                err = Err::NoSpace;
            } else {
                e->number = ++d.next_endpoint_number;
                e->next_in_domain = d.endpoints;
                d.endpoints = e;
                d.endpoint_count++;
                endpoints_changed_locked(d);
                made = true;
            }
        }
    }
    if (made) {
        wake_connectors(d);
        return e;
    }
    e->owner = nullptr;
    e->~Endpoint();
    (void)heap_free(e);
    return err;
}

Result<Endpoint*> endpoint_connect(domid_t server, uint32_t number, domid_t client, uint64_t deadline_ns) {
    auto got = domain_get(server);
    if (!got) return Err::NoSuchDomain;
    Domain& d = **got;
    Endpoint* found = nullptr;
    Err err;
    for (;;) {
        err = Err::NotFound;
        uint32_t generation;
        bool may_come = false; // numbers are never reused: only one not yet given out
        {
            IrqLockGuard guard(d.lock);
            may_come = number > d.next_endpoint_number;
            generation = d.endpoint_generation.load(MemOrder::Relaxed); // under the lock that bumps it
            if (d.endpoints_closed) err = Err::NoSuchDomain; // dying
            for (Endpoint* e = d.endpoints; e; e = e->next_in_domain) {
                if (e->number != number) continue;
                if (e->client != client) err = Err::NotPermitted;
                else if (kobject_try_ref(e->kobj)) found = e; // else: being destroyed
                break;
            }
        }
        if (found || err != Err::NotFound || deadline_ns == 0 || !may_come) break;
        // Not made yet: wait for the server's next endpoint (or its death).
        GenerationWait w{&d, generation};
        if (int64_t r = wait_until(d.endpoint_events, deadline_ns, endpoints_changed, &w); r != 0) {
            err = wait_error(r);
            break;
        }
    }
    domain_put(d);
    if (found) return found;
    return err;
}

Status ipc_call(Endpoint& ep, IpcMessage& msg) {
    auto mem = heap_alloc(sizeof(IpcCall));
    if (!mem) {
        drop_carried(msg);
        return Err::NoMemory;
    }
    IpcCall* c = new (*mem) IpcCall();
    c->msg = msg; // the carried handle moves into the call
    msg.carried = nullptr;
    bool dead;
    Thread* server = nullptr;
    {
        IrqLockGuard guard(ep.lock);
        dead = ep.dead;
        if (!dead) server = enqueue_locked(ep, *c);
    }
    if (dead) {
        c->refs = 1;
        call_unref(c); // outside the lock: dropping a carried handle may destroy things
        return Err::NotConnected;
    }
    // The fast path: with one server thread waiting, this CPU goes to it
    // directly (sched_block_handoff) while the client blocks.
    int64_t r = wait_until_handoff(c->done, kNoDeadline, call_answered, nullptr, server); // consumes it
    if (r != 0) {
        // Interrupted (suspend, kill, the domain dying): abandon the call
        // unless it was answered meanwhile.
        bool was_queued;
        {
            IrqLockGuard guard(ep.lock);
            was_queued = unlink_locked(ep, *c);
        }
        if (was_queued) call_unref(c); // the queue's reference
        IrqLockGuard guard(c->done.lock);
        if (c->state == CallState::Queued || c->state == CallState::Received) c->state = CallState::Abandoned;
    }
    Status result = Status::success();
    switch (c->state) {
    case CallState::Replied:
        msg = c->msg; // the reply, with its carried handle
        c->msg.carried = nullptr;
        break;
    case CallState::Failed: result = c->error; break;
    default: result = Err::Interrupted; break;
    }
    call_unref(c);
    return result;
}

Status ipc_wait(Endpoint& ep, uint64_t deadline_ns, IpcMessage& msg, Thread* handoff) {
    Thread& self = *current_thread();
    ipc_drop_reply(self); // a server that waits again leaves its last call unanswered
    for (;;) {
        int64_t r = wait_until_handoff(ep.servers, deadline_ns, has_call_or_dead, nullptr, handoff);
        handoff = nullptr; // woken (or handed the CPU) by the first round
        if (r != 0) return wait_error(r);
        IpcCall* c;
        bool mine = false;
        {
            IrqLockGuard guard(ep.lock);
            c = pop_locked(ep);
            if (!c) {
                if (ep.dead) return Err::NotConnected;
                continue; // another server thread took it
            }
            IrqLockGuard state(c->done.lock);
            if (c->state == CallState::Queued) {
                c->state = CallState::Received;
                mine = true;
            }
        }
        if (!mine) { // abandoned while queued
            call_unref(c);
            continue;
        }
        msg = c->msg; // the carried handle moves to the server
        c->msg.carried = nullptr;
        self.reply_to = c; // the queue's reference becomes the thread's
        return Status::success();
    }
}

Status ipc_reply(IpcMessage& msg, Thread** handoff) {
    Thread& self = *current_thread();
    IpcCall* c = self.reply_to;
    if (!c) {
        drop_carried(msg);
        return Err::InvalidArgument;
    }
    self.reply_to = nullptr;
    bool delivered = false;
    {
        IrqLockGuard guard(c->done.lock);
        if (c->state == CallState::Received) {
            c->msg = msg;
            msg.carried = nullptr;
            c->state = CallState::Replied;
            if (handoff) *handoff = wake_or_pick_locked(c->done);
            else c->done.wake_all_locked();
            delivered = true;
        }
    }
    drop_carried(msg); // not delivered: the client has gone
    call_unref(c);
    return delivered ? Status::success() : Status(Err::Exited);
}

void ipc_drop_reply(Thread& t) {
    IpcCall* c = t.reply_to;
    if (!c) return;
    t.reply_to = nullptr;
    fail_call(*c, Err::NotConnected);
    call_unref(c);
}

void endpoint_domain_dying(Domain& d) {
    Endpoint* dying[kMaxEndpointsPerDomain];
    uint32_t n = 0;
    {
        IrqLockGuard guard(d.lock);
        d.endpoints_closed = true;
        endpoints_changed_locked(d);
        while (Endpoint* e = d.endpoints) {
            d.endpoints = e->next_in_domain;
            e->next_in_domain = nullptr;
            d.endpoint_count--;
            // One being destroyed (no handle left) needs nothing more.
            if (n < kMaxEndpointsPerDomain && kobject_try_ref(e->kobj)) dying[n++] = e;
        }
    }
    wake_connectors(d); // clients waiting to connect learn it is gone
    for (uint32_t i = 0; i < n; i++) {
        Endpoint& e = *dying[i];
        IntrusiveQueue<IpcCall, &IpcCall::next> failed; // failed outside the lock
        {
            IrqLockGuard guard(e.lock);
            e.dead = true;
            e.owner = nullptr;
            while (IpcCall* c = pop_locked(e)) failed.push_back(*c);
            IrqLockGuard ready(e.servers.lock);
            e.servers.wake_all_locked();
        }
        while (IpcCall* c = failed.pop()) {
            fail_call(*c, Err::NotConnected);
            call_unref(c);
        }
        kobject_unref(e.kobj);
    }
}

} // namespace virtue
