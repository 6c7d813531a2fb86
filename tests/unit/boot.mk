# Boot-time parsing: multiboot2 MBI, usable RAM, range sets, command line.
HOST_SOURCES += hypervisor/lib/range_set.cpp
HOST_SOURCES += hypervisor/boot/multiboot2.cpp
HOST_SOURCES += hypervisor/boot/usable_ram.cpp
HOST_SOURCES += hypervisor/core/cmdline.cpp
HOST_SOURCES += hypervisor/core/cmdline_values.cpp
