// Synchronous IPC (ipc/endpoint.hpp).
#include "ipc/endpoint.hpp"

#include "arch/layout.h"
#include "domain/domain.hpp"
#include "mm/memory.hpp"
#include "sched/scheduler.hpp"
#include "sched/wait.hpp"

namespace virtue {
namespace {

// Per CPU of the caller (statistics: relaxed, summed by ipc_call_counts).
IpcCallCounts g_counts[MAX_CPUS];

void count(bool direct) {
    IpcCallCounts& c = g_counts[current_thread()->cpu];
    uint64_t& n = direct ? c.direct : c.queued;
    __atomic_store_n(&n, __atomic_load_n(&n, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

Endpoint& endpoint_of(KObject* o) { return kobject_cast<Endpoint>(o); }

[[gnu::hot]] void drop_carried(IpcMessage& m) {
    if (m.carried) kobject_unref(*m.carried);
    m.carried = nullptr;
}

[[gnu::hot]] void call_unref(IpcCall* c) {
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    drop_carried(c->msg);
    c->~IpcCall();
    (void)heap_free(c);
}

// A call object for the calling client: the one it kept from its last
// call, or a new one. nullptr: no memory.
[[gnu::hot]] IpcCall* call_new(Thread& self) {
    void* mem = self.spare_call;
    self.spare_call = nullptr;
    if (!mem) {
        auto got = heap_alloc(sizeof(IpcCall));
        if (!got) return nullptr;
        mem = *got;
    }
    return new (mem) IpcCall();
}

// The client's own reference, dropped at the end of its call: if it is the
// last, the object becomes the thread's spare (or is freed if it has one).
[[gnu::hot]] void call_done(Thread& self, IpcCall* c) {
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    drop_carried(c->msg);
    c->~IpcCall();
    if (self.spare_call) {
        (void)heap_free(c);
        return;
    }
    self.spare_call = c;
    if (!self.spare_call_counted) {
        self.spare_call_counted = true;
        __atomic_fetch_add(&self.domain->overhead_bytes, heap_footprint(sizeof(IpcCall)), __ATOMIC_RELAXED);
    }
}

[[gnu::hot]] bool call_answered(Waitable& w, void*) {
    IpcCall& c = *reinterpret_cast<IpcCall*>(reinterpret_cast<char*>(&w) - offsetof(IpcCall, done));
    return c.state == CallState::Replied || c.state == CallState::Failed;
}

// ctx: the waiting server's IpcFastWait.
[[gnu::hot]] bool has_call_or_dead(Waitable& w, void* ctx) {
    Endpoint& e = *reinterpret_cast<Endpoint*>(reinterpret_cast<char*>(&w) - offsetof(Endpoint, servers));
    return static_cast<IpcFastWait*>(ctx)->delivered || !e.queue.empty() || e.dead;
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
[[gnu::hot]] Thread* wake_or_pick_locked(Waitable& w) {
    Waiter* only = w.waiters;
    if (only && !only->next)
        if (Thread* t = sched_handoff_ref(*only->thread)) return t;
    w.wake_all_locked();
    return nullptr;
}

// Under e.lock (and so the queue's readiness under `servers`' lock).
// Returns the server thread to hand the CPU to, if any (see above).
[[gnu::hot]] Thread* enqueue_locked(Endpoint& e, IpcCall& c) {
    IrqLockGuard ready(e.servers.lock);
    e.queue.push_back(c);
    return wake_or_pick_locked(e.servers);
}

[[gnu::hot]] IpcCall* pop_locked(Endpoint& e) {
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

namespace {

// The client's half once its call is queued or delivered: waits for the
// answer (handing the CPU to `server` first, if given: the handoff
// reference is consumed), then takes the reply or the error.
[[gnu::hot]] Status await_answer(Endpoint& ep, IpcCall* c, IpcMessage& msg, Thread* server) {
    int64_t r = wait_until_handoff(c->done, kNoDeadline, call_answered, nullptr, server);
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
    call_done(*current_thread(), c);
    return result;
}

} // namespace

[[gnu::hot]] Status ipc_call(Endpoint& ep, IpcMessage& msg) {
    Thread& self = *current_thread();
    IpcCall* c = call_new(self);
    if (!c) {
        drop_carried(msg);
        return Err::NoMemory;
    }
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
        call_done(self, c); // outside the lock: dropping a carried handle may destroy things
        return Err::NotConnected;
    }
    count(false);
    // With one server thread waiting, this CPU goes to it directly
    // (sched_block_handoff) while the client blocks.
    return await_answer(ep, c, msg, server);
}

[[gnu::hot]] Status ipc_call_direct(Endpoint& ep, IpcMessage& msg, bool* taken) {
    *taken = false;
    if (msg.carried) return Status::success();
    Thread& self = *current_thread();
    IpcCall* c = call_new(self);
    if (!c) return Status::success(); // ipc_call reports it
    c->msg = msg;
    c->state = CallState::Received;
    const uint32_t here = self.cpu;
    Thread* server = nullptr;
    {
        IrqLockGuard guard(ep.lock);
        if (!ep.dead && ep.queue.empty()) {
            IrqLockGuard ready(ep.servers.lock);
            Waiter* only = ep.servers.waiters;
            Thread* t = only && !only->next ? only->thread : nullptr;
            IpcFastWait* rec = t ? t->ipc_fast : nullptr;
            // Same CPU only (a hint: the hand-off checks it under the CPU's
            // lock); a server elsewhere is woken through the queue. Not to
            // a server asked to stop or leave: queued, the call stays for
            // the endpoint's other threads.
            if (rec && rec->ep == &ep && !rec->delivered && __atomic_load_n(&t->cpu, __ATOMIC_RELAXED) == here &&
                !__atomic_load_n(&t->suspend_requested, __ATOMIC_ACQUIRE) &&
                !__atomic_load_n(&t->kill_requested, __ATOMIC_ACQUIRE) && !t->domain->dying() &&
                (server = sched_handoff_ref(*t))) {
                rec->msg = msg;
                rec->delivered = true;
                t->reply_to = c; // the queue's reference, as if queued and received
                ep.servers.delist_locked(*only);
            }
        }
    }
    if (!server) {
        c->refs = 1;
        call_done(self, c); // back to the spare
        return Status::success();
    }
    *taken = true;
    count(true);
    return await_answer(ep, c, msg, server);
}

[[gnu::hot]] Status ipc_wait(Endpoint& ep, uint64_t deadline_ns, IpcMessage& msg, Thread* handoff) {
    Thread& self = *current_thread();
    ipc_drop_reply(self); // a server that waits again leaves its last call unanswered
    // Published for ipc_call_direct while the thread is enlisted on
    // ep.servers (its wait delists it under that lock before returning).
    IpcFastWait rec;
    rec.ep = &ep;
    self.ipc_fast = &rec;
    for (;;) {
        int64_t r = wait_until_handoff(ep.servers, deadline_ns, has_call_or_dead, &rec, handoff);
        handoff = nullptr; // woken (or handed the CPU) by the first round
        if (rec.delivered) {
            // Even if the wait also timed out or was interrupted: the call
            // is the thread's already (reply_to).
            self.ipc_fast = nullptr;
            msg = rec.msg;
            return Status::success();
        }
        if (r != 0) {
            self.ipc_fast = nullptr;
            return wait_error(r);
        }
        IpcCall* c;
        bool mine = false;
        {
            IrqLockGuard guard(ep.lock);
            c = pop_locked(ep);
            if (!c) {
                if (ep.dead) {
                    self.ipc_fast = nullptr;
                    return Err::NotConnected;
                }
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
        self.ipc_fast = nullptr;
        msg = c->msg; // the carried handle moves to the server
        c->msg.carried = nullptr;
        self.reply_to = c; // the queue's reference becomes the thread's
        return Status::success();
    }
}

[[gnu::hot]] Status ipc_reply(IpcMessage& msg, Thread** handoff) {
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

[[gnu::hot]] void ipc_drop_reply(Thread& t) {
    IpcCall* c = t.reply_to;
    if (!c) return;
    t.reply_to = nullptr;
    fail_call(*c, Err::NotConnected);
    call_unref(c);
}

void ipc_thread_exit(Thread& t) {
    ipc_drop_reply(t);
    if (IpcCall* spare = t.spare_call) {
        t.spare_call = nullptr;
        (void)heap_free(spare);
    }
    if (t.spare_call_counted)
        __atomic_fetch_sub(&t.domain->overhead_bytes, heap_footprint(sizeof(IpcCall)), __ATOMIC_RELAXED);
    t.spare_call_counted = false;
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

IpcCallCounts ipc_call_counts() {
    IpcCallCounts sum;
    for (const IpcCallCounts& c : g_counts) {
        sum.direct += __atomic_load_n(&c.direct, __ATOMIC_RELAXED);
        sum.queued += __atomic_load_n(&c.queued, __ATOMIC_RELAXED);
    }
    return sum;
}

} // namespace virtue
