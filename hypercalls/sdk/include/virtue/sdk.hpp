// The native-domain SDK: what a domain author includes.
//
//   #include <virtue/sdk.hpp>
//   int main() { virtue::print("hello from %s\n", virtue::domain_name()); return 0; }
//
// Also brings in the native calls, generated from hypercalls/native.toml:
// virtue::sys::* (the typed layer, for authors: virtue::Result with a named
// virtue::Errno, flag sets such as virtue::Prot), virtue::raw::* (the ABI as
// it is: int64_t, >= 0 or a negated Xen errno), and the kernel objects of
// <virtue/objects.hpp>. See hypercalls/sdk/README.md for the contract.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <virtue/native_calls.hpp>

#include "format.hpp"
#include "objects.hpp"

namespace virtue {

// ---- Output ----

// Formats (see format.hpp) into a 1024-byte buffer and writes it with ONE
// console_write, so a line printed at once stays whole. Longer output is cut
// and ends in "...\n". Returns console_write's result in the raw form
// (bytes written or a negated Xen errno), as printf returns an int.
int print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int vprint(const char* fmt, va_list ap);

// Prints "panic: <message>" (adding a newline if missing) and ends the whole
// domain with status -1.
[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ---- Memory ----
// First-fit allocator with coalescing over a static 1 MiB arena in .bss,
// 16-byte aligned blocks, safe to call from several threads. free(nullptr) is
// a no-op; freeing a pointer twice or one it did not hand out panics.
// malloc(0) returns a unique minimal block. Out of memory returns nullptr
// (operator new panics instead).
void* malloc(size_t size);
void free(void* ptr);
void* calloc(size_t count, size_t size);
void* realloc(void* ptr, size_t size);

// ---- Boot information ----
// The boot-information FDT the hypervisor maps read-only (usable with
// <libfdt.h>; see the README for its layout), nullptr if it was missing or
// malformed.
const void* boot_info();
size_t boot_info_size();

const char* domain_name(); // /domain/name, "" if unknown
const char* boot_args();   // /chosen/bootargs, "" if none

// The bootargs as blank-separated words. arg(i) is nullptr for i >= arg_count().
size_t arg_count();
const char* arg(size_t index);
// True if a word equals `word` or starts with "<word>=".
bool has_arg(const char* word);
// The value of the first word "<key>=<value>" ("" for "key="), nullptr if there
// is none. The pointer stays valid for the life of the domain.
const char* arg_value(const char* key);

// True if /domain/privileges lists `name` ("control", "hardware").
bool has_privilege(const char* name);

// Multiboot2 modules handed to the control domain (/modules, in boot order).
struct BootModule {
    const char* name;    // first word of the command line
    const char* cmdline; // the whole command line
    uint64_t phys_start; // machine address
    uint64_t size;       // bytes
};
size_t module_count();
// Fills out and returns true for index < module_count(), else returns false.
bool module(size_t index, BootModule& out);

} // namespace virtue

// Optional: a domain with vcpus = N runs N threads. Thread 0 runs main() (its
// return value is the exit status of the whole domain); if the program defines
// thread_main, threads 1..N-1 run it once thread 0 has run the static
// constructors. A thread returning from thread_main (or any thread > 0 of a
// program without thread_main) just sleeps for ever.
int thread_main(unsigned index);
