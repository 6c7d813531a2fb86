// Native calls for synchronous IPC: endpoint_create, endpoint_connect,
// endpoint_number, ipc_call, ipc_wait, ipc_reply, ipc_reply_wait (the
// endpoints themselves are in ipc/endpoint.hpp).
#include "native/ipc_fast.hpp"
#include "native_handlers.hpp"

namespace virtue::native {

static_assert(kIpcWords == 4); // virtue_ipc_msg.word

namespace {

// Moves the handle a message carries out of the caller's table, for domain
// `to`. Across domains only endpoint handles travel: every other object
// belongs to its domain (threads, address spaces, memory, ports).
[[gnu::hot]] Status take_carried(uint64_t handle, domid_t to, IpcMessage& m) {
    if (!handle) return Status::success();
    LockedHandles h = caller_handles();
    IrqLockGuard guard(h.lock);
    auto q = h.table.query(handle);
    if (!q) return q.error();
    if (!(q->rights & VIRTUE_RIGHT_TRANSFER)) return Err::Permission;
    if (to != caller().id && q->type != ObjType::Endpoint) return Err::NotPermitted;
    auto closed = h.table.close(handle);
    if (!closed) return closed.error();
    m.carried = *closed; // the handle's reference travels
    m.carried_rights = q->rights;
    return Status::success();
}

// A received message for user space; its carried object becomes a handle
// of the caller (or is dropped, flagged, if the table is full). Checked
// here, at the receiver, too: an endpoint handle with RIGHT_READ can itself
// travel, so the domain that receives on an endpoint is not always its
// owner, and nothing but an endpoint may ever enter another domain's table.
[[gnu::hot]] virtue_ipc_msg to_user(IpcMessage& m) {
    virtue_ipc_msg out{};
    for (uint32_t i = 0; i < kIpcWords; i++) out.word[i] = m.words[i];
    out.sender_domid = m.sender;
    if (m.carried) {
        CallResult h = Err::NotPermitted;
        if (m.carried->type == ObjType::Endpoint || m.sender == caller().id) h = new_handle(*m.carried, m.carried_rights);
        kobject_unref(*m.carried);
        m.carried = nullptr;
        if (!h) out.flags |= VIRTUE_IPC_HANDLE_LOST;
        else out.handle = *h;
    }
    return out;
}

// Copies a received message out; if that fails, the handle it brought is
// closed again (nobody could learn its value).
[[gnu::hot]] CallResult deliver(UserPtr<virtue_ipc_msg> msg, const virtue_ipc_msg& out) {
    if (Status s = msg.write(out); !s) {
        if (out.handle) (void)call_handle_close(out.handle);
        return s.error();
    }
    return 0;
}

[[gnu::hot]] IpcMessage from_user(const virtue_ipc_msg& in) {
    IpcMessage m;
    for (uint32_t i = 0; i < kIpcWords; i++) m.words[i] = in.word[i];
    m.sender = caller().id;
    return m;
}

// Where a call's message comes from and its answer goes: the user buffer
// `msg`, or, when msg is 0, the caller's registers (native.toml, ipc_call:
// the words in r10, r8, r9, r15; out, also the received handle in rdi and
// sender_domid | flags << 32 in rsi). The registers are the thread's saved
// ring-3 frame, written back when the call returns.
class MsgPlace {
  public:
    explicit MsgPlace(UserPtr<virtue_ipc_msg> msg) : msg_(msg) {}
    bool in_registers() const { return msg_.null(); }

    // The message (a register message carries no handle); for a buffer,
    // also whether the answer can be stored (checked before acting).
    Status read(virtue_ipc_msg& in) const {
        if (in_registers()) {
            const arch::InterruptFrame& f = caller_thread().user_frame();
            in = {};
            in.word[0] = f.r10;
            in.word[1] = f.r8;
            in.word[2] = f.r9;
            in.word[3] = f.r15;
            return Status::success();
        }
        TRY(msg_.read(in));
        if (!msg_.writable()) return Err::Fault;
        return Status::success();
    }

    // Stores a received message; if that fails, the handle it brought is
    // closed again (nobody could learn its value).
    CallResult write(const virtue_ipc_msg& out) const {
        if (in_registers()) {
            arch::InterruptFrame& f = caller_thread().user_frame();
            f.r10 = out.word[0];
            f.r8 = out.word[1];
            f.r9 = out.word[2];
            f.r15 = out.word[3];
            f.rdi = out.handle;
            f.rsi = out.sender_domid | static_cast<uint64_t>(out.flags) << 32;
            return 0;
        }
        return deliver(msg_, out);
    }

  private:
    UserPtr<virtue_ipc_msg> msg_;
};

[[gnu::hot]] CallResult receive(Endpoint& ep, const MsgPlace& place, uint64_t deadline_ns,
                                Thread* handoff = nullptr) {
    IpcMessage m;
    TRY(ipc_wait(ep, deadline_ns, m, handoff));
    virtue_ipc_msg out = to_user(m);
    return place.write(out); // on a fault the call stays received
}

// Replies to the caller's received call with `in` (already read).
[[gnu::hot]] Status reply_with(const virtue_ipc_msg& in, Thread** handoff = nullptr) {
    Thread& self = caller_thread();
    if (!self.reply_to) return Err::InvalidArgument;
    IpcMessage m = from_user(in);
    TRY(take_carried(in.handle, self.reply_to->msg.sender, m));
    return ipc_reply(m, handoff);
}

} // namespace

CallResult call_endpoint_create(uint64_t client_domid) {
    auto client = remote_domain(client_domid);
    if (!client) return Err::InvalidArgument;
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(endpoint_create(caller(), *client), kServerRights);
}

CallResult call_endpoint_connect(uint64_t server_domid, uint64_t number, uint64_t deadline_ns) {
    auto server = remote_domain(server_domid);
    if (!server) return Err::InvalidArgument;
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(endpoint_connect(*server, static_cast<uint32_t>(number), caller().id, deadline_ns),
                     kClientRights);
}

CallResult call_endpoint_number(EndpointRef& endpoint) { return endpoint->number; }

[[gnu::hot]] CallResult call_ipc_call(EndpointRef& endpoint, UserPtr<virtue_ipc_msg> msg) {
    const MsgPlace place(msg);
    virtue_ipc_msg in;
    TRY(place.read(in));
    Endpoint& ep = *endpoint;
    IpcMessage m = from_user(in);
    TRY(take_carried(in.handle, ep.owner_id, m));
    TRY(ipc_call(ep, m));
    virtue_ipc_msg out = to_user(m);
    return place.write(out);
}

[[gnu::hot]] bool ipc_call_fast(const arch::InterruptFrame& a, CallResult* result) {
    // The glue's checks, in its order; a failure is the ordinary path's to
    // report.
    if (!UserPtr<virtue_ipc_msg>::aligned(a.rsi)) return false;
    EndpointRef endpoint;
    if (!endpoint.resolve(caller_handles(), a.rdi, VIRTUE_RIGHT_WRITE)) return false;
    const MsgPlace place{UserPtr<virtue_ipc_msg>(a.rsi)};
    virtue_ipc_msg in;
    if (!place.read(in) || in.handle) return false;
    IpcMessage m = from_user(in);
    bool taken = false;
    Status s = ipc_call_direct(*endpoint, m, &taken);
    if (!taken) return false;
    if (!s) {
        *result = s.error();
        return true;
    }
    virtue_ipc_msg out = to_user(m);
    *result = place.write(out);
    return true;
}

CallResult call_ipc_wait(EndpointRef& endpoint, UserPtr<virtue_ipc_msg> msg, uint64_t deadline_ns) {
    if (!msg.writable()) return Err::Fault; // no register form: msg 0 is a fault
    return receive(*endpoint, MsgPlace(msg), deadline_ns);
}

CallResult call_ipc_reply(UserPtr<const virtue_ipc_msg> msg) {
    virtue_ipc_msg in;
    TRY(msg.read(in));
    TRY(reply_with(in));
    return 0;
}

[[gnu::hot]] CallResult call_ipc_reply_wait(EndpointRef& endpoint, UserPtr<virtue_ipc_msg> msg, uint64_t deadline_ns) {
    const MsgPlace place(msg);
    virtue_ipc_msg in;
    TRY(place.read(in));
    // Nothing to answer (the loop's first round) or a client that has gone
    // is no reason not to take the next call.
    Thread* client = nullptr; // the direct hand-off: our CPU goes to it when we block
    if (Status s = reply_with(in, &client); !s && s.error() != Err::InvalidArgument && s.error() != Err::Exited)
        return s.error();
    return receive(*endpoint, place, deadline_ns, client); // consumes the handoff reference
}

} // namespace virtue::native
