// Native calls for in-domain fault handling: fault_handler_set, fault_wait.
#include "domain/fault.hpp"
#include "native_handlers.hpp"

namespace virtue::native {

CallResult call_fault_handler_set(uint64_t target, uint64_t handler) {
    // The target is an address space or a thread, each with its own right,
    // so it is resolved here rather than by the generated glue; the handler
    // (a thread, or 0 for none) after it, in argument order.
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
    ThreadRef handler_thread;
    Status result = handler ? handler_thread.resolve(h, handler, VIRTUE_RIGHT_WRITE) : Status::success();
    if (result && handler_thread.present()) {
        Thread& th = *handler_thread;
        IrqLockGuard guard(th.events.lock);
        if (th.exited) result = Err::Exited;
    }
    if (result) {
        result = fault_handler_set(caller(), *target_obj, handler_thread.present() ? &*handler_thread : nullptr);
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
