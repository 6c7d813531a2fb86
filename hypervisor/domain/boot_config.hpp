// Boot configuration reader: turns a flattened device tree (passed as a
// multiboot2 module) into the list of boot-time domains. Pure logic: no heap,
// no logging, no floating point. The caller prints rejections on the console.
//
// Accepted layout
// ---------------
//   / {
//       compatible = "virtue,boot-config";          // required (fatal if not)
//       domains {                                   // required (fatal if not)
//           hello {                                 // node name = domain name
//               compatible = "virtue,domain";       // required
//               kind = "native";                    // "native" | "xen-pv"
//               module = "hello";                   // 1st word of a multiboot2
//                                                   // module's command line
//               memory = <0x0 0x4000000>;           // u64 bytes, 2 cells, or
//               memory-mib = <64>;                  // u32 MiB (exactly one)
//               vcpus = <1>;                        // optional, 1..64, default 1
//               weight = <256>;                     // optional, 1..65535, def 256
//               cap = <0>;                          // optional, percent, 0 = none,
//                                                   // at most 100 * vcpus
//               privileges = "control", "hardware"; // optional string list
//               bootargs = "console=hvc0";          // optional, <= 256 bytes incl NUL
//                                                   // (a xen-pv kernel's command line)
//               ramdisk = "initrd";                 // optional, xen-pv only: the
//                                                   // initrd module
//               domain-id = <1>;                    // optional, < 0x7ff0, unique
//           };
//       };
//   };
//
// The domain name is the node name without its unit address ("hello@1" ->
// "hello"); at most kBootNameMax characters. Memory must be a non-zero
// multiple of 4 KiB and fit in what is left of free_ram_bytes after the
// domains accepted before it (document order). Unknown properties are ignored.
// kind = "xen-pv" is accepted with kind BootDomainKind::XenPv; the caller
// builds each kind with the builder registered for it
// (domain/boot_domains.hpp).
//
// Errors
// ------
// Fatal (the function returns the error, out.fatal_* describe it, no domain
// is accepted): buffer shorter than a header or than fdt_totalsize
// (Err::Truncated), bad magic/version/structure (Err::BadFormat), root not
// "virtue,boot-config" (Err::BadFormat), no /domains node (Err::NotFound).
//
// Per domain (the function still returns success): the domain is skipped and
// a BootRejection {path from fdt_get_path, short message, Err} is recorded;
// the other domains are still accepted. Over-long values are errors, never
// truncated. More than kMaxBootDomains valid domains: the extra ones are
// rejected (Err::Range). At most kMaxBootRejections rejections are stored;
// rejection_count counts them all.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"

namespace virtue {

constexpr size_t kMaxBootDomains = 32;
constexpr size_t kMaxBootRejections = 32;
constexpr size_t kBootNameMax = 32;       // characters, excluding NUL
constexpr size_t kBootArgsMax = 256;      // bytes, including NUL
constexpr size_t kBootModuleNameMax = 64; // characters, excluding NUL
constexpr size_t kBootPathMax = 128;      // bytes, including NUL
constexpr uint32_t kBootMaxVcpus = 64;
constexpr uint32_t kBootDefaultWeight = 256;
constexpr uint32_t kBootMaxWeight = 65535;
constexpr uint32_t kBootDomainIdLimit = 0x7ff0; // Xen DOMID_FIRST_RESERVED

// A multiboot2 module as the caller knows it.
struct ModuleRef {
    uint64_t start = 0; // physical address
    uint64_t size = 0;  // bytes
    uint32_t index = 0; // position in the multiboot2 module list
};

// Implemented by the caller: the hypervisor over its multiboot2 module list,
// unit tests with a fake. name is not NUL-terminated; len > 0.
class ModuleLookup {
  public:
    virtual bool find(const char* name, size_t len, ModuleRef& out) const = 0;

  protected:
    ~ModuleLookup() = default;
};

enum class BootDomainKind : uint8_t { Native, XenPv };

enum BootPrivilege : uint32_t {
    kBootPrivControl = 1u << 0,  // "control"
    kBootPrivHardware = 1u << 1, // "hardware"
    kBootPrivConsoleInput = 1u << 2, // the `console-input` property (not a privileges entry)
};

struct BootDomain {
    char name[kBootNameMax + 1] = {};
    BootDomainKind kind = BootDomainKind::Native;
    ModuleRef module;
    bool has_ramdisk = false;
    ModuleRef ramdisk;         // valid if has_ramdisk (xen-pv only)
    uint64_t memory_bytes = 0;
    uint32_t vcpus = 1;
    uint32_t weight = kBootDefaultWeight;
    uint32_t cap = 0;          // percent of one CPU, 0 = uncapped
    uint32_t privileges = 0;   // BootPrivilege bits
    bool has_domain_id = false;
    uint32_t domain_id = 0;    // valid if has_domain_id
    char bootargs[kBootArgsMax] = {};
    bool console_input = false; // `console-input`: what is typed on the console goes to this domain
    char path[kBootPathMax] = {}; // node path, for messages
};

struct BootRejection {
    char path[kBootPathMax] = {};
    const char* message = ""; // static string
    Err err = Err::InvalidArgument;
};

struct BootConfig {
    BootDomain domains[kMaxBootDomains];
    size_t domain_count = 0;
    BootRejection rejections[kMaxBootRejections];
    size_t rejection_count = 0; // total; only the first kMaxBootRejections stored
    uint64_t memory_total = 0;  // sum of accepted domains' memory
    // Set when read_boot_config fails (fatal error).
    const char* fatal_message = "";
    char fatal_path[kBootPathMax] = {};

    size_t stored_rejections() const {
        return rejection_count < kMaxBootRejections ? rejection_count : kMaxBootRejections;
    }
};

// Reads the boot configuration in fdt[0, fdt_size). out is reset first.
// Returns a fatal error (see above) or success with the accepted domains and
// per-domain rejections in out. Never reads outside the buffer.
Status read_boot_config(const void* fdt, size_t fdt_size, const ModuleLookup& modules,
                        uint64_t free_ram_bytes, BootConfig& out);

// "name" of a kind, for messages.
const char* boot_domain_kind_name(BootDomainKind k);

} // namespace virtue
