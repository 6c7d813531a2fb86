/*
 * Entry point of a native domain (see README.md for the contract): every
 * thread starts here in ring 3 with
 *   rsp = top of its own 64 KiB stack (16-byte aligned),
 *   rdi = address of the boot-information FDT, rsi = its size,
 *   rdx = thread index (0 for the first thread),
 * and all other registers zero. The three arguments are passed on unchanged
 * to __virtue_start(fdt, size, thread_index) (runtime/start.cpp), which never
 * returns.
 */
    .section .text._start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    xor %ebp, %ebp          /* outermost frame, for debuggers and backtraces */
    and $-16, %rsp          /* the contract promises this; make sure */
    call __virtue_start     /* rsp % 16 == 8 at its entry, as the ABI wants */
    ud2
    .size _start, . - _start

/*
 * Entry point of threads made by virtue::Thread (runtime/thread.cpp):
 * rsp = top of the thread's stack (16-byte aligned), rdi = fn, rsi = arg.
 */
    .section .text.__virtue_thread_entry, "ax", @progbits
    .globl __virtue_thread_entry
    .type __virtue_thread_entry, @function
__virtue_thread_entry:
    xor %ebp, %ebp
    and $-16, %rsp
    call __virtue_thread_start  /* never returns */
    ud2
    .size __virtue_thread_entry, . - __virtue_thread_entry

    .section .note.GNU-stack, "", @progbits
