# ELF64 loader for native domain images.
HOST_SOURCES += hypervisor/domain/elf_loader.cpp
