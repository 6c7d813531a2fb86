# Build rules for the hypervisor image (included from the top-level Makefile).

HV_DIR := hypervisor
HV_ARCH := $(HV_DIR)/arch/x86

# The Xen PV personality (xen-compat/) is part of the same image.
XEN_COMPAT_DIR := xen-compat
HV_CXX_SOURCES := $(shell find $(HV_DIR) $(XEN_COMPAT_DIR) -name '*.cpp' | sort)
HV_ASM_SOURCES := $(shell find $(HV_DIR) -name '*.S' | sort)
HV_OBJS := $(patsubst %.cpp,$(O)/obj/%.o,$(HV_CXX_SOURCES)) \
           $(patsubst %.S,$(O)/obj/%.o,$(HV_ASM_SOURCES))

# Architecture headers come first on the include path, so generic code includes
# "arch/cpu.hpp" and gets the x86 one (no #ifdef).
HV_INCLUDES := -I$(HV_ARCH)/include -I$(HV_DIR) -I. -I$(GEN_DIR)/hypervisor -I$(GEN_DIR)/include
HV_FORCE_INCLUDE := -include $(HV_DIR)/lib/visibility.h

# Position-independent code linked at a fixed address inside the Xen-reserved
# range, as Xen does: -mcmodel=kernel needs the top 2 GiB, which belongs to
# PV guests (docs/architecture.md, Virtual memory layout).
HV_COMMON_FLAGS := -ffreestanding -fno-stack-protector -fpie -fvisibility=hidden \
    -mno-red-zone -mgeneral-regs-only -mno-mmx -mno-sse -mno-sse2 \
    -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
    -fno-strict-aliasing -Wall -Wextra -Werror -g
HV_CXXFLAGS := -std=c++20 $(HV_COMMON_FLAGS) -fno-exceptions -fno-rtti \
    -fno-threadsafe-statics -fno-use-cxa-atexit -Wshadow -Wnon-virtual-dtor \
    -Wno-missing-field-initializers
# Xen's public headers in their latest form (structured guest handles), the
# interface Xen itself implements; guests still choose their own version.
HV_CXXFLAGS += -D__XEN_INTERFACE_VERSION__=0x00040e00
ifeq ($(FLAVOUR),release)
HV_CXXFLAGS += -O2 -DNDEBUG
else
HV_CXXFLAGS += -O1 -DVIRTUE_DEBUG
endif
HV_ASFLAGS := $(HV_COMMON_FLAGS) -D__ASSEMBLY__

$(O)/obj/%.o: %.cpp | $(NATIVE_GENERATED)
	@mkdir -p $(dir $@)
	@echo "  CXX  $<"
	@$(CXX) $(HV_CXXFLAGS) $(HV_FORCE_INCLUDE) $(HV_INCLUDES) -MMD -MP -c $< -o $@

$(O)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS   $<"
	@$(CXX) $(HV_ASFLAGS) $(HV_INCLUDES) -MMD -MP -c $< -o $@

$(O)/hypervisor.ld: $(HV_ARCH)/linker.ld.in $(HV_ARCH)/include/arch/layout.h
	@mkdir -p $(dir $@)
	$(CPP) -P -x c -D__ASSEMBLY__ -D__LINKER__ $(HV_INCLUDES) $< -o $@

# Two-pass link: the second pass embeds a symbol table so that panic
# backtraces print function names.
# Debian's libfdt.a: position-independent, no SSE, so it links in as is; it uses
# the red zone, so the hypervisor calls it only with interrupts off.
HV_LIBS := /usr/lib/x86_64-linux-gnu/libfdt.a
HV_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
    --build-id=none --no-warn-rwx-segments

$(O)/virtue.pass1.elf: $(HV_OBJS) $(O)/hypervisor.ld $(O)/obj/empty_syms.o
	$(LD) $(HV_LDFLAGS) -T $(O)/hypervisor.ld -o $@ $(HV_OBJS) $(O)/obj/empty_syms.o $(HV_LIBS)

$(O)/obj/empty_syms.o: $(HV_DIR)/tools/gen_symbols.sh
	@mkdir -p $(dir $@)
	echo | sh $(HV_DIR)/tools/gen_symbols.sh > $(O)/obj/empty_syms.S
	$(CXX) $(HV_ASFLAGS) -c $(O)/obj/empty_syms.S -o $@

$(O)/obj/symbols.o: $(O)/virtue.pass1.elf $(HV_DIR)/tools/gen_symbols.sh
	nm -n --defined-only $< | sh $(HV_DIR)/tools/gen_symbols.sh > $(O)/obj/symbols.S
	$(CXX) $(HV_ASFLAGS) -c $(O)/obj/symbols.S -o $@

$(O)/virtue.elf: $(HV_OBJS) $(O)/hypervisor.ld $(O)/obj/symbols.o
	$(LD) $(HV_LDFLAGS) -T $(O)/hypervisor.ld -o $@ $(HV_OBJS) $(O)/obj/symbols.o $(HV_LIBS)

# Boot configurations (docs/device-tree.md): device-tree sources compiled by dtc.
# hypervisor/image/configs/ holds the shipped ones, tests/configs/ the ones the
# integration tests boot.
DTC := dtc
$(O)/configs/%.dtb: $(HV_DIR)/image/configs/%.dts
	@mkdir -p $(dir $@)
	@echo "  DTC  $<"
	@$(DTC) -q -I dts -O dtb -o $@ $<
$(O)/test-configs/%.dtb: tests/configs/%.dts
	@mkdir -p $(dir $@)
	@echo "  DTC  $<"
	@$(DTC) -q -I dts -O dtb -o $@ $<
CONFIG_DTBS := $(patsubst $(HV_DIR)/image/configs/%.dts,$(O)/configs/%.dtb,$(wildcard $(HV_DIR)/image/configs/*.dts))
TEST_CONFIG_DTBS := $(patsubst tests/configs/%.dts,$(O)/test-configs/%.dtb,$(wildcard tests/configs/*.dts))

# The ISO: GRUB2 (BIOS) + the hypervisor + the default configuration and the
# domains it names (module command line: name first). hypervisor/image/mkiso.sh
# is also used by the integration tests to make ISOs with other configurations.
ISO_CMDLINE ?= console=com1 com1=115200,8n1 loglvl=info
DEFAULT_MODULES = $(O)/configs/default.dtb config \
    $(O)/domains/hello.elf "hello" \
    $(O)/domains/spinner.elf "spinner" \
    $(O)/domains/spinner.elf "spinner2"
$(O)/virtue.iso: $(O)/virtue.elf $(HV_DIR)/image/mkiso.sh $(O)/configs/default.dtb $(NATIVE_DOMAINS) $(O)/iso-cmdline
	sh $(HV_DIR)/image/mkiso.sh $@ $(O)/virtue.elf "$(ISO_CMDLINE)" $(DEFAULT_MODULES)

iso: $(O)/virtue.iso

# The ISO command line as a file that changes only when ISO_CMDLINE does, so
# that `make run ISO_CMDLINE=...` remakes the ISO.
$(O)/iso-cmdline: FORCE
	@mkdir -p $(dir $@)
	@echo '$(ISO_CMDLINE)' | cmp -s - $@ || echo '$(ISO_CMDLINE)' > $@
FORCE:
.PHONY: FORCE

# `make run CONFIG=path/to.dts` boots that configuration instead of the
# default: an ISO with its .dtb and, for each module name its /domains nodes
# give, the native domain of that name (build/domains/<name>.elf).
# CONFIG_MODULES adds NAME=IMAGE pairs (IMAGE: a domain name, or a path to an
# ELF) for names that are not domain names; the two below are those of
# default.dts and tests/configs/ (hypervisor/image/config-iso.sh).
CONFIG_MODULES ?=
CONFIG_MODULE_DEFAULTS := test=test-domain spinner2=spinner
ifneq ($(CONFIG),)
RUN_CONFIG := $(basename $(notdir $(CONFIG)))
RUN_ISO := $(O)/run/$(RUN_CONFIG).iso
$(O)/run/$(RUN_CONFIG).dtb: $(CONFIG)
	@mkdir -p $(dir $@)
	@echo "  DTC  $<"
	@$(DTC) -q -I dts -O dtb -o $@ $<
# Remade every time: cheap, and the modules depend on CONFIG_MODULES.
$(RUN_ISO): $(O)/virtue.elf $(O)/run/$(RUN_CONFIG).dtb $(NATIVE_DOMAINS) FORCE
	sh $(HV_DIR)/image/config-iso.sh $@ $(O)/virtue.elf "$(ISO_CMDLINE)" $(O)/run/$(RUN_CONFIG).dtb \
	  $(O)/domains "$(CONFIG_MODULE_DEFAULTS) $(CONFIG_MODULES)"
else
RUN_ISO := $(O)/virtue.iso
endif

-include $(HV_OBJS:.o=.d)
