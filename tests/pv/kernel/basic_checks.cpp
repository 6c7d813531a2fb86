// Checks that need no page-table work of ours beyond one update_va_mapping:
// start_info, xen_version, console_io, sched_op yield, unknown hypercalls,
// the forced-emulation CPUID leaves and the time in shared_info. What real
// Xen 4.17 answers to each is in docs/pv-oracle.md.
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/io/console.h>
#include <xen/features.h>
#include <xen/sched.h>
#include <xen/version.h>

#include <string.h>

#include "boot.hpp"
#include "console.hpp"
#include "hypercall.hpp"

extern "C" int memcmp(const void*, const void*, size_t);

extern "C" const unsigned char pv_hypercall_page[]; // head.S

namespace pv {
namespace {

bool contains(const char* hay, size_t size, const char* needle) {
    size_t n = 0;
    while (needle[n]) n++;
    for (size_t i = 0; i + n <= size && hay[i]; i++)
        if (memcmp(hay + i, needle, n) == 0) return true;
    return false;
}

// A page of our own whose mapping update_va_mapping replaces with
// shared_info's frame.
alignas(4096) unsigned char shared_info_window[4096];
volatile shared_info* g_shared; // once mapped

void start_info_checks(Checks& c, const Boot& b) {
    const start_info* si = b.si;
    char magic[sizeof si->magic + 1];
    for (size_t i = 0; i < sizeof si->magic; i++) magic[i] = si->magic[i];
    magic[sizeof si->magic] = '\0';
    c.info("start_info", "magic \"%s\" nr_pages %lu flags 0x%x shared_info 0x%lx pt_base 0x%lx nr_pt_frames %lu", magic,
           si->nr_pages, si->flags, si->shared_info, si->pt_base, si->nr_pt_frames);
    c.info("start_info_more", "mfn_list 0x%lx mod_start 0x%lx mod_len %lu store_mfn 0x%lx store_evtchn %u", si->mfn_list,
           si->mod_start, si->mod_len, si->store_mfn, si->store_evtchn);
    c.expect("start_info_magic", memcmp(si->magic, "xen-3.0-x86_64", 14) == 0, "magic is \"%s\"", magic);
    c.expect("start_info_nr_pages", si->nr_pages > 0, "nr_pages is 0");
    // dom0 (Xen): SIF_INITDOMAIN and SIF_PRIVILEGED; domU (Virtue): neither.
    bool privileged = (si->flags & SIF_PRIVILEGED) != 0;
    c.expect("start_info_role_flags", privileged == b.dom0, "flags 0x%x: %s", si->flags,
             b.dom0 ? "dom0 without SIF_PRIVILEGED" : "domU with SIF_PRIVILEGED");
}

void xen_version_checks(Checks& c, const Boot& b) {
    long v = xen_version(XENVER_version, nullptr);
    c.info("xen_version", "%ld.%ld", v >> 16, v & 0xffff);
    c.expect("xen_version_major_4", v >= 0 && (v >> 16) == 4, "XENVER_version returned 0x%lx", v);

    xen_extraversion_t extra{};
    long rc = xen_version(XENVER_extraversion, extra);
    extra[sizeof extra - 1] = '\0';
    c.info("xen_extraversion", "rc %ld \"%s\"", rc, extra);
    c.expect_eq("xen_extraversion_returns_0", rc, 0);

    static xen_capabilities_info_t caps;
    rc = xen_version(XENVER_capabilities, caps);
    caps[sizeof caps - 1] = '\0';
    c.info("xen_capabilities", "rc %ld \"%s\"", rc, caps);
    c.expect("xen_capabilities_x86_64", rc == 0 && contains(caps, sizeof caps, "xen-3.0-x86_64"),
             "rc %ld, capabilities \"%s\"", rc, caps);

    xen_platform_parameters_t params{};
    rc = xen_version(XENVER_platform_parameters, &params);
    c.info("xen_platform_parameters", "rc %ld virt_start 0x%lx", rc, params.virt_start);
    c.expect("xen_platform_parameters_virt_start", rc == 0 && params.virt_start == HYPERVISOR_VIRT_START,
             "rc %ld virt_start 0x%lx", rc, params.virt_start);

    xen_feature_info_t fi{};
    fi.submap_idx = 0;
    rc = xen_version(XENVER_get_features, &fi);
    uint32_t f = fi.submap;
    c.info("xen_features", "rc %ld submap 0 = 0x%x", rc, f);
    bool need = (f >> XENFEAT_mmu_pt_update_preserve_ad & 1) && (f >> XENFEAT_gnttab_map_avail_bits & 1);
    bool refuse = !(f >> XENFEAT_auto_translated_physmap & 1);
    c.expect("xen_features_pv", rc == 0 && need && refuse,
             "rc %ld submap 0x%x: want bits 5 (mmu_pt_update_preserve_ad) and 7 (gnttab_map_avail_bits), "
             "not 2 (auto_translated_physmap)",
             rc, f);
    // dom0 (Xen): XENFEAT_dom0 set; domU (Virtue): clear.
    bool dom0_bit = (f >> XENFEAT_dom0 & 1) != 0;
    c.expect("xen_features_dom0_bit_matches_role", rc == 0 && dom0_bit == b.dom0, "submap 0x%x, running as %s", f,
             b.dom0 ? "dom0" : "domU");

    xen_feature_info_t bad{};
    bad.submap_idx = XENFEAT_NR_SUBMAPS;
    rc = xen_version(XENVER_get_features, &bad);
    c.info("xen_features_bad_submap", "submap_idx %u: rc %ld", XENFEAT_NR_SUBMAPS, rc);
    c.expect_eq("xen_features_bad_submap_einval", rc, -XEN_EINVAL);
}

void hypercall_number_checks(Checks& c) {
    // Numbers Xen's public headers leave unused (11, 43-47, 56-63) and
    // numbers past its table.
    const unsigned numbers[] = {11, 43, 47, 56, 63, 64, 1000, 0xffffffffu};
    bool ok = true;
    char detail[256];
    size_t len = 0;
    for (unsigned nr : numbers) {
        long rc = hypercall(nr);
        len += format(detail + len, sizeof detail - len, "%s%u:%ld", len ? " " : "", nr, rc);
        ok = ok && rc == -XEN_ENOSYS;
    }
    c.info("hypercall_unknown", "%s", detail);
    c.expect("hypercall_unknown_enosys", ok, "want -%d (ENOSYS) from each: %s", XEN_ENOSYS, detail);
}

// A call through the hypercall page's stub for number nr.
long call_stub(unsigned nr, uint64_t a1, uint64_t a2) {
    uint64_t rax, rdx = 0;
    register uint64_t r10 asm("r10") = 0;
    register uint64_t r8 asm("r8") = 0;
    asm volatile("call *%[stub]"
                 : "=a"(rax), "+D"(a1), "+S"(a2), "+d"(rdx), "+r"(r10), "+r"(r8)
                 : [stub] "r"(pv_hypercall_page + nr * 32)
                 : "memory", "rcx", "r11");
    return static_cast<long>(rax);
}

// The page HYPERCALL_PAGE named, filled by the hypervisor before we ran.
void hypercall_page_checks(Checks& c) {
    const long via = call_stub(__HYPERVISOR_xen_version, XENVER_version, 0);
    const long direct = xen_version(XENVER_version, nullptr);
    c.expect("hypercall_page_xen_version", via == direct, "through the page 0x%lx, directly 0x%lx", via, direct);
    c.expect_eq("hypercall_page_unknown_enosys", call_stub(63, 0, 0), -XEN_ENOSYS);
    // The iret stub pushes RAX as well and does not return.
    static const unsigned char iret[] = {0x51, 0x41, 0x53, 0x50, 0xb8, __HYPERVISOR_iret, 0, 0, 0, 0x0f, 0x05};
    const unsigned char* at = pv_hypercall_page + __HYPERVISOR_iret * 32;
    c.expect("hypercall_page_iret_stub", memcmp(at, iret, sizeof iret) == 0,
             "%02x %02x %02x %02x %02x %02x %02x %02x %02x %02x %02x", at[0], at[1], at[2], at[3], at[4], at[5], at[6], at[7],
             at[8], at[9], at[10]);
}

void console_checks(Checks& c) {
    static const char line[] = "pv-test: console_io write\n";
    long rc = console_io(CONSOLEIO_write, sizeof line - 1, line);
    c.expect_eq("console_io_write_returns_0", rc, 0);
    rc = console_io(99, 0, nullptr);
    c.info("console_io_bad_cmd", "cmd 99: rc %ld", rc);
    c.expect_eq("console_io_bad_cmd_enosys", rc, -XEN_ENOSYS);
}

// A domU's console ring (hvc0's path): a line written into out[] and
// notified is taken by the backend (the hypervisor on Virtue; dom0's
// xenconsoled on Xen). Xen's dom0 has no ring: only an INFO line says
// what happened, and the Virtue test looks for the line in its log.
void console_ring_write(Checks& c, const Boot& b) {
    if (b.dom0) {
        c.info("console_ring", "dom0 has no console ring");
        return;
    }
    const uint64_t mfn = b.si->console.domU.mfn;
    const uint32_t port = b.si->console.domU.evtchn;
    const uint64_t pfn = machine_to_phys_mapping[mfn];
    auto* ring = reinterpret_cast<volatile xencons_interface*>(VIRT_BASE + (pfn << 12));
    static const char line[] = "pv-test: hello through the console ring\n";
    uint32_t prod = ring->out_prod;
    for (size_t i = 0; i + 1 < sizeof line; i++) ring->out[MASK_XENCONS_IDX(prod++, ring->out)] = line[i];
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ring->out_prod = prod;
    evtchn_send_t send{port};
    const long rc = hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, arg(&send));
    int waited = 0;
    for (; waited < 10000 && ring->out_cons != prod; waited++) (void)sched_op(SCHEDOP_yield, nullptr);
    c.info("console_ring", "mfn 0x%lx port %u; send %ld; consumed %s after %d yields", mfn, port, rc,
           ring->out_cons == prod ? "all" : "not all", waited);
}

} // namespace

void echo_console_input(const Boot& b) {
    if (b.dom0) {
        print("pv-test: dom0 has no console ring to read\n");
        return;
    }
    const uint64_t pfn = machine_to_phys_mapping[b.si->console.domU.mfn];
    auto* ring = reinterpret_cast<volatile xencons_interface*>(VIRT_BASE + (pfn << 12));
    char line[128];
    size_t n = 0;
    for (long spins = 0; spins < 2000000 && n + 1 < sizeof line; spins++) {
        const uint32_t prod = __atomic_load_n(&ring->in_prod, __ATOMIC_ACQUIRE);
        uint32_t cons = ring->in_cons;
        bool end = false;
        while (cons != prod && !end && n + 1 < sizeof line) {
            const char ch = ring->in[MASK_XENCONS_IDX(cons++, ring->in)];
            const bool newline = ch == '\n' || ch == '\r';
            end = newline && n > 0; // (empty lines are skipped)
            if (!newline) line[n++] = ch;
        }
        __atomic_store_n(&ring->in_cons, cons, __ATOMIC_RELEASE);
        if (end) break;
        (void)sched_op(SCHEDOP_yield, nullptr);
    }
    line[n] = '\0';
    print("pv-test: read from the console ring: \"%s\"\n", line);
}

namespace {

void sched_checks(Checks& c) { c.expect_eq("sched_op_yield_returns_0", sched_op(SCHEDOP_yield, nullptr), 0); }

void cpuid_checks(Checks& c) {
    CpuidResult r = forced_cpuid(0x40000000);
    char sig[13];
    for (int i = 0; i < 4; i++) {
        sig[i] = static_cast<char>(r.ebx >> (8 * i));
        sig[4 + i] = static_cast<char>(r.ecx >> (8 * i));
        sig[8 + i] = static_cast<char>(r.edx >> (8 * i));
    }
    sig[12] = '\0';
    c.info("cpuid_forced_40000000", "eax 0x%x signature \"%s\"", r.eax, sig);
    c.expect("cpuid_forced_xen_signature", memcmp(sig, "XenVMMXenVMM", 12) == 0 && r.eax >= 0x40000002,
             "eax 0x%x signature \"%s\"", r.eax, sig);
}

void time_checks(Checks& c, const Boot& b) {
    uint64_t va = reinterpret_cast<uint64_t>(shared_info_window);
    uint64_t pte = (b.si->shared_info & ~uint64_t{0xfff}) | PTE_P | PTE_RW | PTE_A | PTE_D;
    long rc = update_va_mapping(va, pte, UVMF_INVLPG | UVMF_LOCAL);
    c.expect_eq("update_va_mapping_shared_info", rc, 0);
    if (rc != 0) return;
    auto* shared = reinterpret_cast<volatile shared_info*>(shared_info_window);
    g_shared = shared;
    // Nothing here unmasks events, so vCPU 0's mask is still as the builder set it.
    uint8_t mask = shared->vcpu_info[0].evtchn_upcall_mask, pending = shared->vcpu_info[0].evtchn_upcall_pending;
    c.info("vcpu0_events", "evtchn_upcall_mask %u evtchn_upcall_pending %u", mask, pending);
    c.expect("events_masked_at_entry", mask == 1, "vcpu_info[0].evtchn_upcall_mask is %u", mask);
    volatile vcpu_time_info& t = shared->vcpu_info[0].time;
    // pvclock read: an odd version means an update is under way; a changed
    // version means we read a mix.
    uint32_t version = 0, mul = 0;
    int8_t shift = 0;
    uint64_t tsc_timestamp = 0, system_time = 0;
    int tries = 0;
    for (; tries < 1000; tries++) {
        version = t.version;
        asm volatile("" ::: "memory");
        mul = t.tsc_to_system_mul;
        shift = t.tsc_shift;
        tsc_timestamp = t.tsc_timestamp;
        system_time = t.system_time;
        asm volatile("" ::: "memory");
        if (!(version & 1) && version == t.version) break;
    }
    c.info("vcpu_time_info", "version %u tsc_to_system_mul %u tsc_shift %d tsc_timestamp %lu system_time %lu ns",
           version, mul, shift, tsc_timestamp, system_time);
    c.expect("vcpu_time_info_valid", tries < 1000 && mul != 0, "version %u (%d tries) tsc_to_system_mul %u", version,
             tries, mul);
    uint32_t wc_version = shared->wc_version;
    uint32_t wc_sec = shared->wc_sec;
    c.info("wallclock", "wc_version %u wc_sec %u wc_nsec %u wc_sec_hi %u", wc_version, wc_sec,
           static_cast<uint32_t>(shared->wc_nsec), static_cast<uint32_t>(shared->wc_sec_hi));
    c.expect("shared_info_wallclock_set", !(wc_version & 1) && wc_sec != 0, "wc_version %u wc_sec %u", wc_version,
             wc_sec);
}

} // namespace

volatile shared_info* shared_info_page() { return g_shared; }

void run_basic_checks(Checks& c, const Boot& b) {
    start_info_checks(c, b);
    xen_version_checks(c, b);
    hypercall_number_checks(c);
    hypercall_page_checks(c);
    console_checks(c);
    console_ring_write(c, b);
    sched_checks(c);
    cpuid_checks(c);
    time_checks(c, b);
}

} // namespace pv
