// Boot-information builder for native domains: writes the flattened device
// tree (FDT) a native domain finds at virtue_domain_info.boot_info, describing
// the domain itself, its command line, where its image and first stack are,
// and (for the control domain) the multiboot2 modules. Pure logic: no heap, no
// logging; libfdt's sequential-write API does the encoding.
//
// Tree layout
// -----------
//   / {
//       compatible = "virtue,native-boot-info";
//       domain {
//           name = "<name>";
//           domain-id = <u32>;
//           memory = <u64>;                     // partition bytes, 2 cells
//           vcpus = <u32>;
//           weight = <u32>;
//           cap = <u32>;                        // percent of one CPU, 0 = none
//           privileges = "control", "hardware"; // string list, in that order;
//                                               // omitted when no privilege
//       };
//       chosen {
//           bootargs = "<bootargs>";            // always present, may be ""
//       };
//       layout {
//           image = <u64 start, u64 end>;       // virtual [start, end), 4 cells
//           stack = <u64 top, u64 size>;        // thread 0: [top - size, top)
//           free-bytes = <u64>;                 // partition bytes not yet used
//       };
//       modules {                               // only when module_count > 0
//           module@<index> {                    // index in hex: module@1a = 26
//               name = "<first word of cmdline>";
//               cmdline = "<cmdline>";
//               reg = <u64 phys_start, u64 size>; // machine address, 4 cells
//           };
//       };
//   };
//
// All numbers are big-endian; a u64 is two 32-bit cells, high cell first. The
// module name is the first blank-separated word of its command line (leading
// spaces and tabs skipped; "" when the command line has no word), the same
// name the boot configuration's `module = "..."` refers to. Modules appear in
// the order given. Privilege bits other than bit 0 (control) and bit 1
// (hardware) are ignored. The tree has no memory reservations.
//
// Errors
// ------
// Err::InvalidArgument: buf null, name null or empty, bootargs null, modules
// null with module_count > 0, a module cmdline null. Err::Range: more than
// kBootInfoMaxModules modules. Err::NoMemory: the tree does not fit in
// buf_size bytes. Inputs are checked before anything is written; nothing is
// ever written outside buf[0, buf_size), and on failure buf's contents are
// unspecified.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"

namespace virtue {

constexpr uint32_t kBootInfoMaxModules = 32;

struct BootInfoModule {
    uint32_t index;        // position in the multiboot2 module list
    const char* cmdline;   // module command line (first word = module name); may be "" but not null
    uint64_t phys_start;   // machine address
    uint64_t size;         // bytes
};

struct BootInfoInput {
    const char* name = nullptr;      // domain name, required, non-empty
    uint32_t domain_id = 0;
    uint64_t memory_bytes = 0;       // partition size
    uint32_t vcpus = 1, weight = 256, cap = 0;
    uint32_t privileges = 0;         // bit0 control, bit1 hardware
    const char* bootargs = "";       // not null
    uint64_t image_start = 0, image_end = 0;   // virtual, [start, end)
    uint64_t stack_top = 0, stack_size = 0;    // thread 0's stack: [top - size, top)
    uint64_t free_bytes = 0;                   // partition bytes not used at start
    const BootInfoModule* modules = nullptr;   // only given for the control domain
    size_t module_count = 0;                   // <= kBootInfoMaxModules else Err::Range
};

// Builds the tree into buf[0, buf_size). Returns the tree's total size
// (fdt_totalsize), which is also the smallest buf_size that succeeds.
// Err::InvalidArgument: null buf, null/empty name, null bootargs, null
// cmdline, modules == nullptr with count > 0. Err::Range: too many modules.
// Err::NoMemory: buf too small (libfdt -FDT_ERR_NOSPACE). Never writes
// outside buf.
Result<size_t> build_boot_info(void* buf, size_t buf_size, const BootInfoInput& in);

} // namespace virtue
