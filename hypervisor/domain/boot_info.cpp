// Boot-information FDT builder (see boot_info.hpp for the tree layout).
#include "domain/boot_info.hpp"

#include "lib/words.hpp"

#include "domain/boot_config.hpp"

// libfdt.h (via libfdt_env.h) declares the string functions; lib/string.hpp
// would clash with its C++ overloads of memchr/strchr.
#include <libfdt.h>

namespace virtue {

namespace {

// libfdt reports every error as a negative int; only running out of buffer
// is expected here. Anything else means the build sequence itself is wrong.
Err fdt_err(int rc) {
    return rc == -FDT_ERR_NOSPACE ? Err::NoMemory : Err::InvalidArgument;
}

#define FDT_TRY(expr)                                                          \
    do {                                                                       \
        int fdt_try_rc_ = (expr);                                              \
        if (fdt_try_rc_ < 0) return fdt_err(fdt_try_rc_);                      \
    } while (0)

// Two u64 values as four big-endian cells.
Status property_u64_pair(void* fdt, const char* name, uint64_t a, uint64_t b) {
    const fdt64_t cells[2] = {cpu_to_fdt64(a), cpu_to_fdt64(b)};
    FDT_TRY(fdt_property(fdt, name, cells, sizeof cells));
    return Status::success();
}

// "module@<index in hex>" into buf (at least 16 bytes: 7 + 8 digits + NUL).
void module_node_name(char (&buf)[16], uint32_t index) {
    static const char prefix[] = "module@";
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    for (; prefix[n] != '\0'; ++n) buf[n] = prefix[n];
    // Most significant non-zero nibble first; index 0 is "0".
    int shift = 28;
    while (shift > 0 && ((index >> shift) & 0xf) == 0) shift -= 4;
    for (; shift >= 0; shift -= 4) buf[n++] = digits[(index >> shift) & 0xf];
    buf[n] = '\0';
}

Status add_domain(void* fdt, const BootInfoInput& in) {
    FDT_TRY(fdt_begin_node(fdt, "domain"));
    FDT_TRY(fdt_property_string(fdt, "name", in.name));
    FDT_TRY(fdt_property_u32(fdt, "domain-id", in.domain_id));
    FDT_TRY(fdt_property_u64(fdt, "memory", in.memory_bytes));
    FDT_TRY(fdt_property_u32(fdt, "vcpus", in.vcpus));
    FDT_TRY(fdt_property_u32(fdt, "weight", in.weight));
    FDT_TRY(fdt_property_u32(fdt, "cap", in.cap));

    // String list "control\0hardware\0"; an empty list would be a zero-length
    // property, which readers cannot tell from a boolean flag, so omit it.
    static const char control[] = "control";
    static const char hardware[] = "hardware";
    char list[sizeof control + sizeof hardware];
    size_t len = 0;
    auto append = [&list, &len](const char* s, size_t size) {
        for (size_t i = 0; i < size; ++i) list[len++] = s[i]; // includes the NUL
    };
    if (in.privileges & kBootPrivControl) append(control, sizeof control);
    if (in.privileges & kBootPrivHardware) append(hardware, sizeof hardware);
    if (len > 0) FDT_TRY(fdt_property(fdt, "privileges", list, static_cast<int>(len)));

    FDT_TRY(fdt_end_node(fdt));
    return Status::success();
}

Status add_module(void* fdt, const BootInfoModule& m) {
    char node[16];
    module_node_name(node, m.index);
    FDT_TRY(fdt_begin_node(fdt, node));

    // name: the first word, copied with its own NUL (it is a substring).
    Word first = first_word(m.cmdline);
    const char* word = first.ptr;
    size_t word_len = first.len;
    // A command line is far shorter than 2 GiB; the check keeps the int cast
    // honest and libfdt would refuse such a value for space anyway.
    if (word_len >= 0x7fffffff) return Err::NoMemory;
    void* val = nullptr;
    FDT_TRY(fdt_property_placeholder(fdt, "name", static_cast<int>(word_len + 1), &val));
    char* dst = static_cast<char*>(val);
    for (size_t i = 0; i < word_len; ++i) dst[i] = word[i];
    dst[word_len] = '\0';

    FDT_TRY(fdt_property_string(fdt, "cmdline", m.cmdline));
    TRY(property_u64_pair(fdt, "reg", m.phys_start, m.size));
    FDT_TRY(fdt_end_node(fdt));
    return Status::success();
}

Status build(void* fdt, int size, const BootInfoInput& in) {
    FDT_TRY(fdt_create(fdt, size));
    FDT_TRY(fdt_finish_reservemap(fdt));
    FDT_TRY(fdt_begin_node(fdt, "")); // root
    FDT_TRY(fdt_property_string(fdt, "compatible", "virtue,native-boot-info"));

    TRY(add_domain(fdt, in));

    FDT_TRY(fdt_begin_node(fdt, "chosen"));
    FDT_TRY(fdt_property_string(fdt, "bootargs", in.bootargs));
    FDT_TRY(fdt_end_node(fdt));

    FDT_TRY(fdt_begin_node(fdt, "layout"));
    TRY(property_u64_pair(fdt, "image", in.image_start, in.image_end));
    TRY(property_u64_pair(fdt, "stack", in.stack_top, in.stack_size));
    FDT_TRY(fdt_property_u64(fdt, "free-bytes", in.free_bytes));
    FDT_TRY(fdt_end_node(fdt));

    if (in.module_count > 0) {
        FDT_TRY(fdt_begin_node(fdt, "modules"));
        for (size_t i = 0; i < in.module_count; ++i) TRY(add_module(fdt, in.modules[i]));
        FDT_TRY(fdt_end_node(fdt));
    }

    FDT_TRY(fdt_end_node(fdt)); // root
    FDT_TRY(fdt_finish(fdt));
    return Status::success();
}

} // namespace

Result<size_t> build_boot_info(void* buf, size_t buf_size, const BootInfoInput& in) {
    // Validate everything first so the error does not depend on buf_size.
    if (!buf || !in.name || in.name[0] == '\0' || !in.bootargs) return Err::InvalidArgument;
    if (in.module_count > kBootInfoMaxModules) return Err::Range;
    if (in.module_count > 0 && !in.modules) return Err::InvalidArgument;
    for (size_t i = 0; i < in.module_count; ++i)
        if (!in.modules[i].cmdline) return Err::InvalidArgument;

    // libfdt sizes are int; a smaller window than offered is always safe.
    int size = buf_size > 0x7fffffff ? 0x7fffffff : static_cast<int>(buf_size);
    TRY(build(buf, size, in));
    return static_cast<size_t>(fdt_totalsize(buf));
}

} // namespace virtue
