// Endpoints and IPC calls (hypervisor/ipc/endpoint.cpp), run for real on
// the host over the fakes of fakes/host_kernel.hpp. One host thread plays
// the client and the server threads: while one blocks, the fake scheduler
// runs the test's next "meanwhile" step as another thread, which is how a
// server receives and answers a call its client is blocked in.
#include <boost/test/unit_test.hpp>

#include "arch/percpu.hpp"
#include "err_print.hpp"
#include "fakes/host_kernel.hpp"
#include "ipc/endpoint.hpp"
#include "mm/memory.hpp"

namespace virtue {

using host::AsThread;
using host::TestDomain;

namespace {

constexpr domid_t kServer = 1, kClient = 2, kOther = 3;

// A handle's object in transit: counts its destruction.
struct Carried {
    KObject kobj{ObjType::Test, 1, nullptr};
    bool destroyed = false;
    Carried() {
        kobj.destroy = [](KObject* o) { kobject_cast<Carried>(o).destroyed = true; };
    }
};

IpcMessage message(uint64_t first, Carried* carried = nullptr) {
    IpcMessage m;
    for (uint32_t i = 0; i < kIpcWords; i++) m.words[i] = first + i;
    if (carried) {
        m.carried = &carried->kobj;
        m.carried_rights = RIGHTS_ALL;
    }
    return m;
}

void meanwhile(std::function<void()> step) { host::sched_fake().meanwhile.push_back(std::move(step)); }

struct Fixture {
    Thread client;
    Thread server;
    TestDomain s{kServer}, c{kClient}, o{kOther};
    size_t heap_before = host::heap_live();
    Fixture() {
        client.domain = &*c;
        server.domain = &*s;
        host::sched_fake_reset(&client);
    }
    ~Fixture() {
        // A client keeps its last call object for the next call until it exits.
        forget(client);
        forget(server);
        BOOST_TEST(!server.reply_to);
        BOOST_TEST(arch::irqs_enabled());
        BOOST_TEST(arch::this_cpu().held_locks.depth() == 0u);
        BOOST_TEST(host::sched_fake().stuck == 0u);
        BOOST_TEST(host::sched_fake().handoff_refs == 0);
        BOOST_TEST(host::sched_fake().meanwhile.empty());
        BOOST_TEST(host::heap_live() == heap_before);
        for (TestDomain* d : {&s, &c, &o}) BOOST_TEST((*d)->refs == 1u);
    }
    // Ends t's part in IPC as its exit would (a test's other threads call
    // it themselves before they go out of scope).
    static void forget(Thread& t) {
        AsThread as(t);
        ipc_thread_exit(t);
        BOOST_TEST(!t.spare_call);
    }
    Endpoint& create(domid_t for_client = kClient) {
        auto e = endpoint_create(*s, for_client);
        BOOST_REQUIRE(e.ok());
        return **e;
    }
};

void drop(Endpoint& e) { kobject_unref(e.kobj); }

} // namespace

BOOST_FIXTURE_TEST_SUITE(ipc_endpoint_states, Fixture)

BOOST_AUTO_TEST_CASE(create_and_connect) {
    Endpoint& e = create();
    BOOST_TEST(e.number == 1u);
    BOOST_TEST(s->endpoint_count == 1u);
    auto got = endpoint_connect(kServer, 1, kClient, 0);
    BOOST_REQUIRE(got.ok());
    BOOST_TEST(*got == &e);
    BOOST_TEST(e.kobj.refs == 2u); // the server's handle and the client's
    BOOST_TEST(endpoint_connect(kServer, 1, kOther, 0).error() == Err::NotPermitted);
    BOOST_TEST(endpoint_connect(kServer, 2, kClient, 0).error() == Err::NotFound);
    BOOST_TEST(endpoint_connect(9, 1, kClient, 0).error() == Err::NoSuchDomain);
    Endpoint& e2 = create(kOther);
    BOOST_TEST(e2.number == 2u); // numbers are never reused
    BOOST_TEST(endpoint_connect(kServer, 2, kClient, 0).error() == Err::NotPermitted);
    drop(e2);
    BOOST_TEST(s->endpoint_count == 1u); // the last handle unlists it
    BOOST_TEST(endpoint_connect(kServer, 2, kOther, 0).error() == Err::NotFound);
    drop(**got);
    drop(e);
    BOOST_TEST(s->endpoint_count == 0u);
}

BOOST_AUTO_TEST_CASE(a_domain_has_a_limited_number_of_endpoints) {
    std::vector<Endpoint*> made;
    for (uint32_t i = 0; i < kMaxEndpointsPerDomain; i++) made.push_back(&create());
    const size_t heap_full = host::heap_live();
    BOOST_TEST(endpoint_create(*s, kClient).error() == Err::NoSpace);
    BOOST_TEST(host::heap_live() == heap_full);
    drop(*made.back());
    made.pop_back();
    made.push_back(&create());
    BOOST_TEST(made.back()->number == kMaxEndpointsPerDomain + 1); // numbers are not reused
    endpoint_domain_dying(*s); // every one dies; the handles remain
    BOOST_TEST(endpoint_create(*s, kClient).error() == Err::NoSuchDomain);
    BOOST_TEST(s->endpoint_count == 0u);
    for (Endpoint* e : made) {
        BOOST_TEST(e->dead);
        drop(*e);
    }
}

BOOST_AUTO_TEST_CASE(a_dying_domain_makes_no_endpoints) {
    s.mark_dying();
    BOOST_TEST(endpoint_create(*s, kClient).error() == Err::NoSuchDomain);
}

BOOST_AUTO_TEST_CASE(connect_waits_for_the_endpoint_to_be_made) {
    Endpoint* made = nullptr;
    meanwhile([&] {
        AsThread as(server);
        made = &create();
    });
    auto got = endpoint_connect(kServer, 1, kClient, kNoDeadline);
    BOOST_REQUIRE(got.ok());
    BOOST_TEST(*got == made);
    drop(**got);
    // Not made before the deadline; the wait interrupted.
    BOOST_TEST(endpoint_connect(kServer, 2, kClient, 1000).error() == Err::TimedOut);
    host::sched_fake().interrupt.insert(&client);
    BOOST_TEST(endpoint_connect(kServer, 2, kClient, kNoDeadline).error() == Err::Interrupted);
    // The server dies while the client waits.
    meanwhile([&] { endpoint_domain_dying(*s); });
    BOOST_TEST(endpoint_connect(kServer, 2, kClient, kNoDeadline).error() == Err::NoSuchDomain);
    drop(*made);
}

BOOST_AUTO_TEST_CASE(call_queued_received_replied) {
    Endpoint& e = create();
    Carried request_handle, reply_handle;
    IpcMessage msg = message(10, &request_handle);
    meanwhile([&] {
        // The client is blocked with its call queued.
        BOOST_REQUIRE(!e.queue.empty());
        BOOST_TEST((e.queue.front()->state == CallState::Queued));
        AsThread as(server);
        IpcMessage in;
        BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        BOOST_TEST(in.words[0] == 10u);
        BOOST_TEST(in.words[kIpcWords - 1] == 10u + kIpcWords - 1);
        BOOST_TEST(in.carried == &request_handle.kobj); // the handle moved with it
        BOOST_TEST(e.queue.empty());
        BOOST_REQUIRE(server.reply_to);
        BOOST_TEST((server.reply_to->state == CallState::Received));
        kobject_unref(*in.carried);
        IpcMessage out = message(20, &reply_handle);
        BOOST_REQUIRE(ipc_reply(out).ok());
        BOOST_TEST(!server.reply_to);
        BOOST_TEST(!out.carried); // delivered
    });
    BOOST_REQUIRE(ipc_call(e, msg).ok());
    BOOST_TEST(msg.words[0] == 20u);
    BOOST_TEST(msg.carried == &reply_handle.kobj);
    BOOST_TEST(request_handle.destroyed);
    BOOST_TEST(!reply_handle.destroyed);
    kobject_unref(*msg.carried);
    BOOST_TEST(reply_handle.destroyed);
    BOOST_TEST(host::sched_fake().handoffs == 0u); // nobody was waiting: no handoff
    drop(e);
}

BOOST_AUTO_TEST_CASE(a_waiting_server_gets_the_clients_cpu) {
    Endpoint& e = create();
    Thread other_server;
    other_server.domain = &*s;
    host::sched_fake_reset(&server);
    meanwhile([&] {
        // The server sleeps on the endpoint; the client calls.
        AsThread as(client);
        IpcMessage msg = message(1);
        BOOST_TEST(ipc_call(e, msg).ok());
        BOOST_TEST(msg.words[0] == 2u);
    });
    meanwhile([&] {
        // The client blocked handing its CPU to the server; another server
        // thread takes the call first.
        BOOST_TEST(host::sched_fake().handoffs == 1u);
        BOOST_TEST(server.wake_pending);
        AsThread as(other_server);
        IpcMessage in, out = message(2);
        BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        BOOST_REQUIRE(ipc_reply(out).ok());
    });
    IpcMessage in;
    // Woken by the handoff, the server finds the queue empty and sleeps
    // again until its deadline.
    BOOST_TEST(ipc_wait(e, 1000, in).error() == Err::TimedOut);
    BOOST_TEST(!server.reply_to);
    forget(other_server);
    drop(e);
}

BOOST_AUTO_TEST_CASE(reply_and_wait_hands_the_cpu_to_the_client) {
    Endpoint& e = create();
    IpcMessage msg = message(1);
    meanwhile([&] {
        AsThread as(server);
        IpcMessage in, out = message(5);
        BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        Thread* handoff = nullptr;
        BOOST_REQUIRE(ipc_reply(out, &handoff).ok());
        BOOST_TEST(handoff == &client); // the lone waiter: not woken yet
        BOOST_TEST(!client.wake_pending);
        BOOST_TEST(host::sched_fake().handoff_refs == 1);
        // The server's next wait wakes it (handing it the CPU) and sleeps.
        BOOST_TEST(ipc_wait(e, 1000, in, handoff).error() == Err::TimedOut);
        BOOST_TEST(client.wake_pending);
    });
    BOOST_REQUIRE(ipc_call(e, msg).ok());
    BOOST_TEST(msg.words[0] == 5u);
    BOOST_TEST(host::sched_fake().handoffs == 1u);
    drop(e);
}

BOOST_AUTO_TEST_CASE(a_handoff_to_a_wait_that_does_not_block_wakes_normally) {
    Endpoint& e = create();
    Thread client2, server2;
    client2.domain = &*c;
    server2.domain = &*s;
    IpcMessage first = message(1), second = message(2);
    host::sched_fake_reset(&server); // asleep on the endpoint below
    meanwhile([&] {
        AsThread as(client);
        BOOST_TEST(ipc_call(e, first).ok());
    });
    meanwhile([&] {
        AsThread as(client2);
        BOOST_TEST(ipc_call(e, second).ok());
    });
    meanwhile([&] {
        // Both calls queued. Another server thread answers the first with
        // a handoff; its next wait finds the second at once, so the client
        // is woken the ordinary way.
        AsThread as(server2);
        IpcMessage in, out = message(11);
        BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        BOOST_TEST(in.words[0] == 1u);
        Thread* handoff = nullptr;
        BOOST_REQUIRE(ipc_reply(out, &handoff).ok());
        BOOST_TEST(handoff == &client);
        BOOST_TEST(!client.wake_pending);
        BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in, handoff).ok());
        BOOST_TEST(client.wake_pending);
        BOOST_TEST(in.words[0] == 2u);
        out = message(12);
        BOOST_REQUIRE(ipc_reply(out).ok());
    });
    IpcMessage idle;
    BOOST_TEST(ipc_wait(e, 1000, idle).error() == Err::TimedOut);
    BOOST_TEST(first.words[0] == 11u);
    BOOST_TEST(second.words[0] == 12u);
    // Each client found the first server asleep and handed it its CPU.
    BOOST_TEST(host::sched_fake().handoffs == 2u);
    forget(client2);
    forget(server2);
    drop(e);
}

BOOST_AUTO_TEST_CASE(a_call_abandoned_while_queued) {
    Endpoint& e = create();
    Carried handle;
    IpcMessage msg = message(1, &handle);
    meanwhile([&] { host::sched_fake().interrupt.insert(&client); }); // killed, say
    BOOST_TEST(ipc_call(e, msg).error() == Err::Interrupted);
    BOOST_TEST(e.queue.empty()); // taken back
    BOOST_TEST(handle.destroyed); // dropped with the call
    IpcMessage in;
    host::sched_fake().current = &server;
    BOOST_TEST(ipc_wait(e, 1000, in).error() == Err::TimedOut); // nothing to receive
    drop(e);
}

BOOST_AUTO_TEST_CASE(a_reply_to_a_client_that_has_gone) {
    Endpoint& e = create();
    IpcMessage msg = message(1);
    meanwhile([&] {
        {
            AsThread as(server);
            IpcMessage in;
            BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        }
        host::sched_fake().interrupt.insert(&client);
    });
    BOOST_TEST(ipc_call(e, msg).error() == Err::Interrupted);
    BOOST_TEST(msg.words[0] == 1u); // no reply
    BOOST_REQUIRE(server.reply_to);
    BOOST_TEST((server.reply_to->state == CallState::Abandoned));
    AsThread as(server);
    Carried handle;
    IpcMessage out = message(9, &handle);
    BOOST_TEST(ipc_reply(out).error() == Err::Exited);
    BOOST_TEST(handle.destroyed); // nobody to take it
    BOOST_TEST(!server.reply_to);
    drop(e);
}

BOOST_AUTO_TEST_CASE(a_reply_without_a_call) {
    AsThread as(server);
    Carried handle;
    IpcMessage out = message(1, &handle);
    BOOST_TEST(ipc_reply(out).error() == Err::InvalidArgument);
    BOOST_TEST(handle.destroyed);
    BOOST_TEST(!out.carried);
}

BOOST_AUTO_TEST_CASE(a_server_that_waits_again_fails_its_call) {
    Endpoint& e = create();
    IpcMessage msg = message(1);
    meanwhile([&] {
        AsThread as(server);
        IpcMessage in;
        BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        BOOST_TEST(ipc_wait(e, 1000, in).error() == Err::TimedOut); // without replying
    });
    BOOST_TEST(ipc_call(e, msg).error() == Err::NotConnected);
    // A server thread that exits does the same.
    meanwhile([&] {
        AsThread as(server);
        IpcMessage in;
        BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        ipc_drop_reply(server);
        ipc_drop_reply(server); // nothing left to drop
    });
    BOOST_TEST(ipc_call(e, msg).error() == Err::NotConnected);
    drop(e);
}

BOOST_AUTO_TEST_CASE(endpoint_death_fails_queued_calls) {
    Endpoint& e = create();
    auto connected = endpoint_connect(kServer, e.number, kClient, 0);
    BOOST_REQUIRE(connected.ok());
    Thread client2;
    client2.domain = &*c;
    Carried handle;
    IpcMessage first = message(1, &handle), second = message(2);
    meanwhile([&] {
        AsThread as(client2);
        meanwhile([&] { endpoint_domain_dying(*s); }); // both calls queued
        BOOST_TEST(ipc_call(e, second).error() == Err::NotConnected);
    });
    BOOST_TEST(ipc_call(e, first).error() == Err::NotConnected);
    BOOST_TEST(handle.destroyed);
    BOOST_TEST(e.dead);
    BOOST_TEST(e.queue.empty());
    // Dead for good: calls fail at once, servers do not wait.
    IpcMessage later = message(3);
    BOOST_TEST(ipc_call(e, later).error() == Err::NotConnected);
    host::sched_fake().current = &server;
    IpcMessage in;
    BOOST_TEST(ipc_wait(e, kNoDeadline, in).error() == Err::NotConnected);
    BOOST_TEST(endpoint_connect(kServer, e.number, kClient, 0).error() == Err::NoSuchDomain);
    BOOST_TEST(host::sched_fake().blocks == 2u); // only the two calls ever slept
    drop(**connected);
    forget(client2);
    drop(e); // the handles outlive the endpoint's life
}

BOOST_AUTO_TEST_CASE(endpoint_death_fails_a_received_call_only_at_its_reply) {
    Endpoint& e = create();
    IpcMessage msg = message(1);
    meanwhile([&] {
        {
            AsThread as(server);
            IpcMessage in;
            BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
        }
        endpoint_domain_dying(*s); // the received call is the server thread's now
        BOOST_TEST(!client.wake_pending);
        AsThread as(server);
        IpcMessage out = message(7);
        BOOST_TEST(ipc_reply(out).ok());
    });
    BOOST_TEST(ipc_call(e, msg).ok());
    BOOST_TEST(msg.words[0] == 7u);
    drop(e);
}

// ---- Direct delivery (ipc_call_direct, the entry's fast path) ----

BOOST_AUTO_TEST_CASE(a_call_is_delivered_directly_to_the_lone_waiting_server) {
    Endpoint& e = create();
    host::sched_fake_reset(&server); // the server waits first
    IpcMessage msg = message(1);
    msg.sender = kClient;
    meanwhile([&] {
        AsThread as(client);
        bool taken = false;
        BOOST_TEST(ipc_call_direct(e, msg, &taken).ok());
        BOOST_TEST(taken);
        BOOST_TEST(msg.words[0] == 9u); // the reply
    });
    meanwhile([&] {
        // The client handed its CPU to the server: the call is the
        // server's already, never queued.
        BOOST_TEST(host::sched_fake().handoffs == 1u);
        BOOST_TEST(e.queue.empty());
        BOOST_REQUIRE(server.reply_to);
        BOOST_TEST((server.reply_to->state == CallState::Received));
        BOOST_TEST(!e.servers.waiters); // taken off the list by the client
        AsThread as(server);
        IpcMessage out = message(9);
        BOOST_REQUIRE(ipc_reply(out).ok());
    });
    IpcMessage in;
    BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
    BOOST_TEST(in.words[0] == 1u);
    BOOST_TEST(in.words[3] == 4u);
    BOOST_TEST(in.sender == kClient);
    BOOST_TEST(!server.ipc_fast); // withdrawn once the wait is over
    drop(e);
}

BOOST_AUTO_TEST_CASE(a_direct_call_left_to_the_ordinary_path_changes_nothing) {
    Endpoint& e = create();
    Carried handle;
    auto not_taken = [&](IpcMessage m, const char* why, bool queued = false) {
        BOOST_TEST_CONTEXT(why) {
            bool taken = true;
            BOOST_TEST(ipc_call_direct(e, m, &taken).ok());
            BOOST_TEST(!taken);
            BOOST_TEST(e.queue.empty() == !queued);
            BOOST_TEST(host::sched_fake().handoffs == 0u);
            BOOST_TEST(!server.reply_to);
            BOOST_TEST(host::sched_fake().blocks == 0u); // the caller did not wait
        }
    };
    // No server waiting.
    not_taken(message(1), "nobody waits");
    // A server waiting, but: a handle carried; the server on another CPU;
    // two servers waiting; a call already queued; the endpoint dead.
    Thread server2;
    server2.domain = &*s;
    IpcFastWait rec, rec2;
    rec.ep = rec2.ep = &e;
    Waiter w, w2;
    w.thread = &server;
    w2.thread = &server2;
    server.ipc_fast = &rec;
    server2.ipc_fast = &rec2;
    {
        IrqLockGuard guard(e.servers.lock);
        e.servers.enlist_locked(w);
    }
    not_taken(message(1, &handle), "a handle carried");
    server.cpu = 1;
    not_taken(message(1), "the server on another CPU");
    server.cpu = 0;
    {
        IrqLockGuard guard(e.servers.lock);
        e.servers.enlist_locked(w2);
    }
    not_taken(message(1), "two servers waiting");
    {
        IrqLockGuard guard(e.servers.lock);
        e.servers.delist_locked(w2);
    }
    server.kill_requested = true;
    not_taken(message(1), "a server asked to leave");
    server.kill_requested = false;
    server.suspend_requested = true;
    not_taken(message(1), "a server asked to stop");
    server.suspend_requested = false;
    server.ipc_fast = nullptr;
    not_taken(message(1), "a server not in ipc_wait");
    server.ipc_fast = &rec;
    rec.ep = nullptr;
    not_taken(message(1), "a server waiting on another endpoint");
    rec.ep = &e;
    IpcCall queued;
    {
        IrqLockGuard guard(e.lock);
        e.queue.push_back(queued);
    }
    not_taken(message(1), "a call queued before", true);
    {
        IrqLockGuard guard(e.lock);
        BOOST_TEST(e.queue.remove(queued));
    }
    e.dead = true;
    not_taken(message(1), "the endpoint dead");
    e.dead = false;
    BOOST_TEST(!rec.delivered);
    {
        IrqLockGuard guard(e.servers.lock);
        e.servers.delist_locked(w);
    }
    server.ipc_fast = server2.ipc_fast = nullptr;
    BOOST_TEST(!handle.destroyed); // still the caller's to send another way
    kobject_unref(handle.kobj);
    BOOST_TEST(handle.destroyed);
    forget(server2);
    drop(e);
}

BOOST_AUTO_TEST_CASE(a_client_keeps_its_call_object_for_the_next_call) {
    Endpoint& e = create();
    const size_t live = host::heap_live(); // with the endpoint
    for (uint64_t round = 0; round < 3; round++) {
        IpcMessage msg = message(round);
        meanwhile([&] {
            AsThread as(server);
            IpcMessage in, out = message(round + 100);
            BOOST_REQUIRE(ipc_wait(e, kNoDeadline, in).ok());
            BOOST_REQUIRE(ipc_reply(out).ok());
        });
        BOOST_REQUIRE(ipc_call(e, msg).ok());
        BOOST_TEST(msg.words[0] == round + 100);
        BOOST_TEST(client.spare_call); // one object, reused every round
        BOOST_TEST(host::heap_live() == live + 1);
        BOOST_TEST((*c).overhead_bytes == heap_footprint(sizeof(IpcCall)));
    }
    forget(client);
    BOOST_TEST(host::heap_live() == live);
    BOOST_TEST((*c).overhead_bytes == 0u);
    drop(e);
}

BOOST_AUTO_TEST_SUITE_END()

} // namespace virtue
