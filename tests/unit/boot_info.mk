# Boot-information FDT for native domains.
HOST_SOURCES += hypervisor/domain/boot_info.cpp
HOST_LDLIBS += -lfdt
