// Xen hypercalls from a 64-bit PV guest kernel, made as Linux makes them
// (ref linux-pv-boot.md 3.1): no hypercall page, but
//     push %rcx; push %r11; syscall; pop %r11; pop %rcx
// with the number in rax and the arguments in rdi, rsi, rdx, r10, r8. The
// result comes back in rax: >= 0, or a negated Xen errno (xen/errno.h).
// Xen may clobber the argument registers (its debug builds poison them), so
// they are outputs here as well.
#pragma once

#include <stdint.h>
#include <xen/xen.h>

namespace pv {

inline long hypercall(unsigned nr, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
                      uint64_t a5 = 0) {
    register uint64_t r10 asm("r10") = a4;
    register uint64_t r8 asm("r8") = a5;
    uint64_t rax = nr;
    asm volatile("push %%rcx\n\tpush %%r11\n\tsyscall\n\tpop %%r11\n\tpop %%rcx"
                 : "+a"(rax), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
                 :
                 : "memory");
    return static_cast<long>(rax);
}

template <typename T> inline uint64_t arg(T* p) { return reinterpret_cast<uint64_t>(p); }

inline long console_io(int cmd, uint64_t count, const void* buf) {
    return hypercall(__HYPERVISOR_console_io, static_cast<uint64_t>(cmd), count, reinterpret_cast<uint64_t>(buf));
}
inline long xen_version(int cmd, void* buf) {
    return hypercall(__HYPERVISOR_xen_version, static_cast<uint64_t>(cmd), arg(buf));
}
inline long sched_op(int cmd, void* buf) {
    return hypercall(__HYPERVISOR_sched_op, static_cast<uint64_t>(cmd), arg(buf));
}
inline long update_va_mapping(uint64_t va, uint64_t pte, uint64_t flags) {
    return hypercall(__HYPERVISOR_update_va_mapping, va, pte, flags);
}

// CPUID through Xen's forced-emulation prefix (ud2; .ascii "xen"; cpuid): a
// PV kernel runs in ring 3, so a plain cpuid would see the real CPU; this
// one traps and the hypervisor answers as it wants the guest to see it.
struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};
inline CpuidResult forced_cpuid(uint32_t leaf, uint32_t subleaf = 0) {
    CpuidResult r;
    asm volatile("ud2\n\t.ascii \"xen\"\n\tcpuid"
                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                 : "a"(leaf), "c"(subleaf));
    return r;
}

} // namespace pv
