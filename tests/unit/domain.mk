# Domain configuration: the device-tree boot configuration reader.
HOST_SOURCES += hypervisor/domain/boot_config.cpp
HOST_LDLIBS += -lfdt
