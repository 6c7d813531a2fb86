// Native calls for in-domain fault handling: fault_handler_set, fault_wait.
#include "domain/fault.hpp"
#include "native_handlers.hpp"

namespace virtue::native {

CallResult call_fault_handler_set(uint64_t target, ThreadRef& handler) {
    // The target is an address space or a thread, each with its own right.
    LockedHandles h = caller_handles();
    KObject* target_obj = nullptr;
    {
        IrqLockGuard guard(h.lock);
        auto q = h.table.query(target);
        if (!q) return q.error();
        uint32_t needed;
        if (q->type == ObjType::AddressSpace) needed = VIRTUE_RIGHT_MAP;
        else if (q->type == ObjType::Thread) needed = VIRTUE_RIGHT_WRITE;
        else return Err::WrongType;
        auto o = h.table.get(target, q->type, needed);
        if (!o) return o.error();
        target_obj = *o;
    }
    Status result = Status::success();
    if (handler.present()) {
        Thread& th = *handler;
        IrqLockGuard guard(th.events.lock);
        if (th.exited) result = Err::Exited;
    }
    if (result) {
        result = fault_handler_set(caller(), *target_obj, handler.present() ? &*handler : nullptr);
    }
    kobject_unref(*target_obj);
    TRY(result);
    return 0;
}

CallResult call_fault_wait(uint64_t deadline_ns, UserPtr<virtue_fault_info> info) {
    if (!info.writable()) return Err::Fault;
    Thread* f = nullptr;
    FaultRecord record;
    TRY(wait_status(fault_take(deadline_ns, &f, &record)));
    auto h = new_handle(f->kobj, kThreadRights);
    if (!h) {
        fault_untake(*f); // it stays queued, with the queue's reference
        return h.error();
    }
    virtue_fault_info out{};
    out.thread = *h;
    out.thread_id = f->id;
    out.vector = record.vector;
    out.error_code = record.error_code;
    out.address = record.address;
    out.rip = record.rip;
    if (Status s = info.write(out); !s) {
        (void)call_handle_close(*h);
        fault_untake(*f);
        return s.error();
    }
    kobject_unref(f->kobj); // the queue's reference; the new handle holds its own
    return 0;
}

} // namespace virtue::native
