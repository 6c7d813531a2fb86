// HYPERVISOR_console_io (xen/xen.h CONSOLEIO_*): a guest's output on the
// hypervisor console, each line with the domain's name in front like native
// output, and console input for control domains. Xen gives a PV domU this
// call only in debug builds; Virtue gives it to every guest, since it is the
// first output a PV Linux makes (docs/pv-oracle.md). A long write is
// preemptible: it continues, as in Xen, with the count and buffer argument
// registers advanced past what was written.
#include "xen_handlers.hpp"

#include "console/console.hpp"
#include "sched/scheduler.hpp"
#include "xen-compat/op_args.hpp"

namespace virtue::xen {
namespace {

constexpr uint64_t kChunk = 256; // bytes copied and written at a time

} // namespace

CallResult console_io(uint64_t cmd, uint64_t count, uint64_t buffer) {
    if (count > UINT32_MAX) return Err::InvalidArgument; // Xen's count is an unsigned int
    Domain& d = self();
    switch (cmd) {
    case CONSOLEIO_write: {
        char chunk[kChunk];
        for (uint64_t done = 0; done < count;) {
            if (done > 0 && hypercall_preempt_check()) {
                hypercall_continue_with(1, count - done);
                hypercall_continue_with(2, buffer + done);
                return Err::Restart;
            }
            const uint64_t n = count - done < kChunk ? count - done : kChunk;
            TRY(copy_from_user(chunk, buffer + done, n));
            domain_console_put(d, chunk, n);
            done += n;
        }
        return 0;
    }
    case CONSOLEIO_read: {
        // Input belongs to the domain given `console-input`, or else to
        // control domains; others have none to read.
        if (!domain_reads_console_input(d) || count == 0) return 0;
        char bytes[kChunk];
        const size_t n = console_read_input(bytes, count < kChunk ? count : kChunk);
        TRY(copy_to_user(buffer, bytes, n));
        return n;
    }
    default: return Err::NotSupported;
    }
}

} // namespace virtue::xen
