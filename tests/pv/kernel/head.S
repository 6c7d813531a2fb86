/*
 * Entry point and Xen ELF notes of the PV test kernel.
 *
 * A 64-bit PV guest kernel starts in ring 3 at XEN_ELFNOTE_ENTRY with
 * rsi = virtual address of its start_info page, rsp = top of the builder's
 * boot stack, events masked and no trap table (ref linux-pv-boot.md 2.6).
 * We record that state as found (pv_entry_state, boot.hpp; entry_checks.cpp
 * compares it with what Xen gives), move to our own stack in .bss, so that
 * the checks do not depend on where a builder put its boot stack, and hand
 * start_info to pv_main.
 */
#include <xen/elfnote.h>

#define VIRT_BASE 0xffffffff80000000

    .section .text.entry, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    mov %rax, pv_entry_state + 0(%rip)      /* the 16 GPRs, in x86 order */
    mov %rcx, pv_entry_state + 8(%rip)
    mov %rdx, pv_entry_state + 16(%rip)
    mov %rbx, pv_entry_state + 24(%rip)
    mov %rsp, pv_entry_state + 32(%rip)
    mov %rbp, pv_entry_state + 40(%rip)
    mov %rsi, pv_entry_state + 48(%rip)
    mov %rdi, pv_entry_state + 56(%rip)
    mov %r8, pv_entry_state + 64(%rip)
    mov %r9, pv_entry_state + 72(%rip)
    mov %r10, pv_entry_state + 80(%rip)
    mov %r11, pv_entry_state + 88(%rip)
    mov %r12, pv_entry_state + 96(%rip)
    mov %r13, pv_entry_state + 104(%rip)
    mov %r14, pv_entry_state + 112(%rip)
    mov %r15, pv_entry_state + 120(%rip)
    pushfq                                  /* on the builder's boot stack */
    popq pv_entry_state + 128(%rip)         /* rflags */
    mov %cs, pv_entry_state + 136(%rip)     /* selectors: cs ss ds es fs gs */
    mov %ss, pv_entry_state + 138(%rip)
    mov %ds, pv_entry_state + 140(%rip)
    mov %es, pv_entry_state + 142(%rip)
    mov %fs, pv_entry_state + 144(%rip)
    mov %gs, pv_entry_state + 146(%rip)
    cld
    lea boot_stack_top(%rip), %rsp
    xor %ebp, %ebp
    mov %rsi, %rdi          /* start_info */
    call pv_main            /* never returns */
    ud2
    .size _start, . - _start

    .section .bss.stack, "aw", @nobits
    .balign 16
    .space 16384
boot_stack_top:

/*
 * One Xen ELF note (owner "Xen", xen/elfnote.h): xen_note_begin TYPE, the
 * descriptor, xen_note_end.
 */
.macro xen_note_begin type:req
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f
    .long 4f - 3f
    .long \type
1:  .asciz "Xen"
2:  .balign 4
3:
.endm
.macro xen_note_end
4:  .balign 4
    .popsection
.endm

    xen_note_begin XEN_ELFNOTE_GUEST_OS
    .asciz "virtue-pv-test"
    xen_note_end
    xen_note_begin XEN_ELFNOTE_GUEST_VERSION
    .asciz "1"
    xen_note_end
    xen_note_begin XEN_ELFNOTE_XEN_VERSION
    .asciz "xen-3.0"
    xen_note_end
    xen_note_begin XEN_ELFNOTE_LOADER
    .asciz "generic"
    xen_note_end
    xen_note_begin XEN_ELFNOTE_VIRT_BASE
    .quad VIRT_BASE
    xen_note_end
    xen_note_begin XEN_ELFNOTE_PADDR_OFFSET
    .quad 0
    xen_note_end
    xen_note_begin XEN_ELFNOTE_ENTRY
    .quad _start
    xen_note_end
    /* A hypercall page, which older kernels call through; ours makes its
     * hypercalls with `syscall` inline (hypercall.hpp) and only checks the
     * page (basic_checks.cpp). */
    xen_note_begin XEN_ELFNOTE_HYPERCALL_PAGE
    .quad pv_hypercall_page
    xen_note_end
    /* As Linux says it: the guest write-protects its own page tables and
     * accepts L3 tables above 4 GiB. */
    xen_note_begin XEN_ELFNOTE_FEATURES
    .asciz "!writable_page_tables|pae_pgdir_above_4gb"
    xen_note_end

/* The hypercall page: a page of text the hypervisor fills with its stubs
 * before we start (zeros here). */
    .section .text, "ax", @progbits
    .balign 4096
    .globl pv_hypercall_page
pv_hypercall_page:
    .fill 4096, 1, 0

    .section .note.GNU-stack, "", @progbits
