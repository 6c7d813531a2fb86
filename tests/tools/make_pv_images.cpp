// Writes the PV kernel images the integration tests boot as modules, shaped
// like Debian's cloud kernel (tests/unit/pv_kernel_builder.hpp): one the
// hypervisor must accept and several it must refuse with a clear reason,
// and a 256 KiB initrd. usage: make-pv-images OUTPUT_DIR
#include <cstdio>
#include <string>
#include <vector>

#include "../unit/pv_kernel_builder.hpp"

namespace {

bool write(const std::string& path, const std::vector<uint8_t>& bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    return std::fclose(f) == 0 && ok;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    using pvtest::num;
    using pvtest::PvElf;
    using pvtest::str;

    PvElf good;
    PvElf bad_base; // VIRT_BASE inside the hypervisor's range
    bad_base.set(num(XEN_ELFNOTE_VIRT_BASE, 0xffff800000000000ull));
    PvElf dom0; // a kernel that requires running as dom0
    dom0.set(pvtest::Note{"Xen", XEN_ELFNOTE_FEATURES, {'!', 'd', 'o', 'm', '0', 0}});
    PvElf no_entry; // no ENTRY note
    no_entry.drop(XEN_ELFNOTE_ENTRY);
    std::vector<uint8_t> initrd(256 << 10);
    for (size_t i = 0; i < initrd.size(); i++) initrd[i] = uint8_t(i * 7 + 1);

    bool ok = write(dir + "/pv-shaped.elf", good.build()) && write(dir + "/pv-bad-base.elf", bad_base.build()) &&
              write(dir + "/pv-dom0.elf", dom0.build()) && write(dir + "/pv-no-entry.elf", no_entry.build()) &&
              write(dir + "/initrd.bin", initrd);
    if (!ok) std::perror("make-pv-images");
    return ok ? 0 : 1;
}
