/*
 * For the assembly files: HYPERVISOR_iret. The words rip, cs, rflags, rsp,
 * ss are on the stack already; this pushes `flags` (VGCF_in_syscall or 0)
 * and the current RCX, R11 and RAX, completing Xen's iret_context, and
 * makes the hypercall, which does not return here.
 */
#pragma once

.macro hypervisor_iret flags:req
    pushq \flags
    push %rcx
    push %r11
    push %rax
    mov $__HYPERVISOR_iret, %eax
    syscall
    ud2
.endm
