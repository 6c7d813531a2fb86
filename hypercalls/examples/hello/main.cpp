// hello: the smallest useful native domain. Says who it is (domain_info), what
// it was started with (bootargs) and, for the control domain, which boot
// modules the hypervisor handed over.
#include <virtue/sdk.hpp>

int main() {
    virtue_domain_info info{};
    if (auto r = virtue::sys::domain_info(&info); !r) virtue::panic("domain_info failed: %s", r.error_name());

    virtue::print("hello from %s (domain %u), %llu MiB, %u vcpu(s)\n", info.name, info.domain_id,
                  static_cast<unsigned long long>(info.memory_bytes >> 20), info.vcpus);
    virtue::print("hello: bootargs '%s'\n", virtue::boot_args());

    if (info.privileges & 1) { // control
        size_t count = virtue::module_count();
        virtue::print("hello: %zu module(s)\n", count);
        virtue::BootModule m;
        for (size_t i = 0; virtue::module(i, m); i++)
            virtue::print("module %zu: %s %llu bytes\n", i, m.name, static_cast<unsigned long long>(m.size));
    }

    virtue::print("hello: done\n");
    return 0;
}
