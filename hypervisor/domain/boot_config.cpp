// Boot configuration reader (see boot_config.hpp for the accepted layout).
#include "domain/boot_config.hpp"

// libfdt.h (via libfdt_env.h) declares the string functions; lib/string.hpp
// would clash with its C++ overloads of memchr/strchr.
#include <libfdt.h>

namespace virtue {

namespace {

constexpr uint64_t kPageSize = 4096;

void copy_str(char* dst, size_t cap, const char* src, size_t len) {
    if (cap == 0) return;
    if (len >= cap) len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

// Node path into buf; falls back to a truncated "<name>" if it does not fit.
void node_path(const void* fdt, int node, char* buf, size_t cap) {
    if (fdt_get_path(fdt, node, buf, static_cast<int>(cap)) == 0) return;
    int len = 0;
    const char* name = fdt_get_name(fdt, node, &len);
    static const char prefix[] = "/domains/";
    copy_str(buf, cap, prefix, sizeof prefix - 1);
    if (name && len > 0) {
        size_t used = strlen(buf);
        copy_str(buf + used, cap - used, name, static_cast<size_t>(len));
    }
    if (cap >= 4) { // mark the truncation
        size_t used = strlen(buf);
        if (used + 1 == cap) memcpy(buf + cap - 4, "...", 3);
    }
}

uint32_t be32(const void* p) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
}

// A domain under construction fails with one (Err, message).
struct Fail {
    Err err;
    const char* msg;
};

// Property lookup outcome.
enum class Prop { Absent, Ok, Bad };

// A single NUL-terminated string with no embedded NUL.
Prop get_string(const void* fdt, int node, const char* name, const char*& s, size_t& len) {
    int plen = 0;
    const void* p = fdt_getprop(fdt, node, name, &plen);
    if (!p) return plen == -FDT_ERR_NOTFOUND ? Prop::Absent : Prop::Bad;
    if (plen <= 0) return Prop::Bad;
    const char* c = static_cast<const char*>(p);
    const void* nul = memchr(c, 0, static_cast<size_t>(plen));
    if (nul != c + plen - 1) return Prop::Bad;
    s = c;
    len = static_cast<size_t>(plen - 1);
    return Prop::Ok;
}

Prop get_u32(const void* fdt, int node, const char* name, uint32_t& v) {
    int plen = 0;
    const void* p = fdt_getprop(fdt, node, name, &plen);
    if (!p) return plen == -FDT_ERR_NOTFOUND ? Prop::Absent : Prop::Bad;
    if (plen != 4) return Prop::Bad;
    v = be32(p);
    return Prop::Ok;
}

Prop get_u64(const void* fdt, int node, const char* name, uint64_t& v) {
    int plen = 0;
    const void* p = fdt_getprop(fdt, node, name, &plen);
    if (!p) return plen == -FDT_ERR_NOTFOUND ? Prop::Absent : Prop::Bad;
    if (plen != 8) return Prop::Bad;
    const uint8_t* b = static_cast<const uint8_t*>(p);
    v = (uint64_t(be32(b)) << 32) | be32(b + 4);
    return Prop::Ok;
}

bool streq(const char* s, size_t len, const char* lit) {
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

// Fills d from node; returns false with f set on a per-domain error.
// remaining: free RAM left for this domain.
bool parse_domain(const void* fdt, int node, const ModuleLookup& modules, uint64_t remaining,
                  const BootConfig& cfg, BootDomain& d, Fail& f) {
    auto fail = [&f](Err e, const char* m) {
        f = Fail{e, m};
        return false;
    };

    // Name: node name without unit address.
    int nlen = 0;
    const char* nname = fdt_get_name(fdt, node, &nlen);
    if (!nname || nlen <= 0) return fail(Err::BadFormat, "unreadable node name");
    const void* at = memchr(nname, '@', static_cast<size_t>(nlen));
    size_t name_len = at ? static_cast<size_t>(static_cast<const char*>(at) - nname)
                         : static_cast<size_t>(nlen);
    if (name_len == 0) return fail(Err::InvalidArgument, "empty domain name");
    if (name_len > kBootNameMax) return fail(Err::Range, "domain name too long");
    copy_str(d.name, sizeof d.name, nname, name_len);

    // compatible (string list, must contain "virtue,domain").
    int clen = 0;
    const void* compat = fdt_getprop(fdt, node, "compatible", &clen);
    if (!compat) return fail(Err::BadFormat, "missing compatible");
    if (clen <= 0 || !fdt_stringlist_contains(static_cast<const char*>(compat), clen,
                                              "virtue,domain"))
        return fail(Err::BadFormat, "compatible is not \"virtue,domain\"");

    const char* s = nullptr;
    size_t len = 0;

    // kind
    switch (get_string(fdt, node, "kind", s, len)) {
    case Prop::Absent: return fail(Err::InvalidArgument, "missing kind");
    case Prop::Bad: return fail(Err::BadFormat, "kind is not a string");
    case Prop::Ok: break;
    }
    if (streq(s, len, "native"))
        d.kind = BootDomainKind::Native;
    else if (streq(s, len, "xen-pv"))
        d.kind = BootDomainKind::XenPv;
    else
        return fail(Err::NotSupported, "unknown kind");

    // module
    switch (get_string(fdt, node, "module", s, len)) {
    case Prop::Absent: return fail(Err::InvalidArgument, "missing module");
    case Prop::Bad: return fail(Err::BadFormat, "module is not a string");
    case Prop::Ok: break;
    }
    if (len == 0) return fail(Err::InvalidArgument, "empty module name");
    if (len > kBootModuleNameMax) return fail(Err::Range, "module name too long");
    if (!modules.find(s, len, d.module)) return fail(Err::NotFound, "module not found");

    // ramdisk: an initrd module, for xen-pv kernels only.
    switch (get_string(fdt, node, "ramdisk", s, len)) {
    case Prop::Absent: d.has_ramdisk = false; break;
    case Prop::Bad: return fail(Err::BadFormat, "ramdisk is not a string");
    case Prop::Ok:
        if (d.kind != BootDomainKind::XenPv) return fail(Err::InvalidArgument, "ramdisk is only for xen-pv domains");
        if (len == 0) return fail(Err::InvalidArgument, "empty ramdisk module name");
        if (len > kBootModuleNameMax) return fail(Err::Range, "ramdisk module name too long");
        if (!modules.find(s, len, d.ramdisk)) return fail(Err::NotFound, "ramdisk module not found");
        d.has_ramdisk = true;
        break;
    }

    // memory / memory-mib
    uint64_t mem64 = 0;
    uint32_t mib = 0;
    Prop pm = get_u64(fdt, node, "memory", mem64);
    Prop pmib = get_u32(fdt, node, "memory-mib", mib);
    if (pm == Prop::Bad) return fail(Err::BadFormat, "memory must be two cells (u64)");
    if (pmib == Prop::Bad) return fail(Err::BadFormat, "memory-mib must be one cell");
    if (pm == Prop::Ok && pmib == Prop::Ok)
        return fail(Err::InvalidArgument, "both memory and memory-mib");
    if (pm == Prop::Absent && pmib == Prop::Absent) return fail(Err::InvalidArgument, "missing memory");
    uint64_t mem = pm == Prop::Ok ? mem64 : uint64_t(mib) << 20;
    if (mem == 0) return fail(Err::InvalidArgument, "memory is zero");
    if (mem % kPageSize != 0) return fail(Err::InvalidArgument, "memory not a multiple of 4 KiB");
    if (mem > remaining) return fail(Err::NoMemory, "memory exceeds free RAM");
    d.memory_bytes = mem;

    // vcpus
    uint32_t v = 0;
    switch (get_u32(fdt, node, "vcpus", v)) {
    case Prop::Absent: d.vcpus = 1; break;
    case Prop::Bad: return fail(Err::BadFormat, "vcpus must be one cell");
    case Prop::Ok:
        if (v < 1 || v > kBootMaxVcpus) return fail(Err::Range, "vcpus out of range (1..64)");
        d.vcpus = v;
        break;
    }

    // weight
    switch (get_u32(fdt, node, "weight", v)) {
    case Prop::Absent: d.weight = kBootDefaultWeight; break;
    case Prop::Bad: return fail(Err::BadFormat, "weight must be one cell");
    case Prop::Ok:
        if (v < 1 || v > kBootMaxWeight) return fail(Err::Range, "weight out of range (1..65535)");
        d.weight = v;
        break;
    }

    // cap
    switch (get_u32(fdt, node, "cap", v)) {
    case Prop::Absent: d.cap = 0; break;
    case Prop::Bad: return fail(Err::BadFormat, "cap must be one cell");
    case Prop::Ok:
        if (uint64_t(v) > uint64_t(d.vcpus) * 100)
            return fail(Err::Range, "cap above 100% per vcpu");
        d.cap = v;
        break;
    }

    // privileges: string list, each entry known.
    d.privileges = 0;
    int plen = 0;
    const void* pp = fdt_getprop(fdt, node, "privileges", &plen);
    if (pp) {
        const char* p = static_cast<const char*>(pp);
        size_t rest = static_cast<size_t>(plen);
        if (rest > 0 && p[rest - 1] != '\0') return fail(Err::BadFormat, "privileges not NUL-terminated");
        while (rest > 0) {
            size_t l = strnlen(p, rest); // l < rest: last byte is NUL
            if (streq(p, l, "control"))
                d.privileges |= kBootPrivControl;
            else if (streq(p, l, "hardware"))
                d.privileges |= kBootPrivHardware;
            else
                return fail(Err::InvalidArgument, "unknown privilege");
            p += l + 1;
            rest -= l + 1;
        }
    } else if (plen != -FDT_ERR_NOTFOUND) {
        return fail(Err::BadFormat, "unreadable privileges");
    }

    // bootargs
    switch (get_string(fdt, node, "bootargs", s, len)) {
    case Prop::Absent: d.bootargs[0] = '\0'; break;
    case Prop::Bad: return fail(Err::BadFormat, "bootargs is not a string");
    case Prop::Ok:
        if (len + 1 > kBootArgsMax) return fail(Err::Range, "bootargs too long");
        copy_str(d.bootargs, sizeof d.bootargs, s, len);
        break;
    }

    // console-input: an empty property; the domain needs a way to read it
    // (a PV console ring, or console_io as a control domain).
    int input_len = 0;
    if (fdt_getprop(fdt, node, "console-input", &input_len)) {
        if (input_len != 0) return fail(Err::BadFormat, "console-input takes no value");
        if (d.kind != BootDomainKind::XenPv && !(d.privileges & kBootPrivControl))
            return fail(Err::InvalidArgument, "console-input needs a xen-pv domain or the control privilege");
        d.console_input = true;
        d.privileges |= kBootPrivConsoleInput;
    } else if (input_len != -FDT_ERR_NOTFOUND) {
        return fail(Err::BadFormat, "unreadable console-input");
    } else {
        d.console_input = false;
    }

    // domain-id
    switch (get_u32(fdt, node, "domain-id", v)) {
    case Prop::Absent: d.has_domain_id = false; d.domain_id = 0; break;
    case Prop::Bad: return fail(Err::BadFormat, "domain-id must be one cell");
    case Prop::Ok:
        if (v >= kBootDomainIdLimit) return fail(Err::Range, "domain-id out of range");
        d.has_domain_id = true;
        d.domain_id = v;
        break;
    }

    // Uniqueness against the accepted domains.
    for (size_t i = 0; i < cfg.domain_count; ++i) {
        const BootDomain& o = cfg.domains[i];
        if (strcmp(o.name, d.name) == 0) return fail(Err::Exists, "duplicate domain name");
        if (d.has_domain_id && o.has_domain_id && o.domain_id == d.domain_id)
            return fail(Err::Exists, "duplicate domain-id");
        if (d.console_input && o.console_input) return fail(Err::Exists, "console-input is another domain's already");
    }
    return true;
}

void reject(BootConfig& out, const char* path, Err e, const char* msg) {
    if (out.rejection_count < kMaxBootRejections) {
        BootRejection& r = out.rejections[out.rejection_count];
        copy_str(r.path, sizeof r.path, path, strlen(path));
        r.message = msg;
        r.err = e;
    }
    ++out.rejection_count;
}

Status fatal(BootConfig& out, const char* path, Err e, const char* msg) {
    copy_str(out.fatal_path, sizeof out.fatal_path, path, strlen(path));
    out.fatal_message = msg;
    out.domain_count = 0;
    out.memory_total = 0;
    return e;
}

} // namespace

const char* boot_domain_kind_name(BootDomainKind k) {
    switch (k) {
    case BootDomainKind::Native: return "native";
    case BootDomainKind::XenPv: return "xen-pv";
    }
    return "?";
}

Status read_boot_config(const void* fdt, size_t fdt_size, const ModuleLookup& modules,
                        uint64_t free_ram_bytes, BootConfig& out) {
    // Reset without a large temporary.
    out.domain_count = 0;
    out.rejection_count = 0;
    out.memory_total = 0;
    out.fatal_message = "";
    out.fatal_path[0] = '\0';

    if (!fdt || fdt_size < sizeof(struct fdt_header))
        return fatal(out, "/", Err::Truncated, "device tree shorter than its header");
    if (fdt_magic(fdt) != FDT_MAGIC) return fatal(out, "/", Err::BadFormat, "bad device tree magic");
    if (fdt_totalsize(fdt) > fdt_size)
        return fatal(out, "/", Err::Truncated, "device tree larger than its module");
    if (fdt_check_header(fdt) != 0)
        return fatal(out, "/", Err::BadFormat, "bad device tree header");
    if (fdt_check_full(fdt, fdt_size) != 0)
        return fatal(out, "/", Err::BadFormat, "malformed device tree");

    int root = fdt_path_offset(fdt, "/");
    if (root < 0) return fatal(out, "/", Err::BadFormat, "no root node");
    int clen = 0;
    const void* compat = fdt_getprop(fdt, root, "compatible", &clen);
    if (!compat || clen <= 0 ||
        !fdt_stringlist_contains(static_cast<const char*>(compat), clen, "virtue,boot-config"))
        return fatal(out, "/", Err::BadFormat, "root is not \"virtue,boot-config\"");

    int doms = fdt_subnode_offset(fdt, root, "domains");
    if (doms < 0) {
        if (doms == -FDT_ERR_NOTFOUND) return fatal(out, "/domains", Err::NotFound, "missing /domains node");
        return fatal(out, "/domains", Err::BadFormat, "unreadable /domains node");
    }

    uint64_t remaining = free_ram_bytes;
    int node = fdt_first_subnode(fdt, doms);
    for (; node >= 0; node = fdt_next_subnode(fdt, node)) {
        char path[kBootPathMax];
        node_path(fdt, node, path, sizeof path);
        if (out.domain_count >= kMaxBootDomains) {
            reject(out, path, Err::Range, "too many domains (max 32)");
            continue;
        }
        BootDomain& d = out.domains[out.domain_count];
        d = BootDomain{};
        Fail f{Err::InvalidArgument, ""};
        if (!parse_domain(fdt, node, modules, remaining, out, d, f)) {
            reject(out, path, f.err, f.msg);
            continue;
        }
        copy_str(d.path, sizeof d.path, path, strlen(path));
        remaining -= d.memory_bytes;
        out.memory_total += d.memory_bytes;
        ++out.domain_count;
    }
    if (node != -FDT_ERR_NOTFOUND)
        return fatal(out, "/domains", Err::BadFormat, "malformed /domains subtree");
    return Status::success();
}

} // namespace virtue
