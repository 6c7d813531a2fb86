HOST_SOURCES += hypervisor/acpi/acpi.cpp
HOST_SOURCES += hypervisor/acpi/acpi_warn.cpp
HOST_SOURCES += hypervisor/acpi/madt.cpp
HOST_SOURCES += hypervisor/acpi/hpet.cpp
HOST_SOURCES += hypervisor/acpi/fadt.cpp
