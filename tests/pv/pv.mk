# The PV test kernel and its oracle (included from the top-level Makefile;
# docs/pv-oracle.md).
#
#   $(PV_KERNEL)   tests/pv/kernel/: our own freestanding 64-bit Xen PV kernel,
#                  built with the host g++/ld like the native domains, but
#                  with no SDK: it speaks only the Xen ABI (Debian's
#                  libxen-dev headers), from ring 3 at VIRT_BASE + 1 MiB.
#   make pv-oracle boots it as dom0 on Debian's real Xen 4.17 in QEMU and
#                  prints its PASS/FAIL list (build/host/pv-oracle).

PV_DIR := tests/pv/kernel
PV_OUT := $(O)/pv
PV_KERNEL := $(PV_OUT)/pv-test.elf
PV_LDSCRIPT := $(PV_DIR)/kernel.ld

# -mcmodel=kernel: the image is in the top 2 GiB. No red zone: once events
# are unmasked the hypervisor pushes bounce frames on this stack. No
# SSE/x87 state to think about: general registers only.
PV_CXXFLAGS := -std=c++20 -O2 -g -ffreestanding -fno-exceptions -fno-rtti \
    -fno-threadsafe-statics -fno-use-cxa-atexit -fno-pie -fno-pic -mcmodel=kernel \
    -mno-red-zone -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
    -fno-tree-loop-distribute-patterns -fcf-protection=none \
    -Wall -Wextra -Werror -D__XEN_INTERFACE_VERSION__=0x00040e00
PV_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
    --build-id=none --orphan-handling=error -T $(PV_LDSCRIPT)

PV_SOURCES := $(sort $(wildcard $(PV_DIR)/*.cpp $(PV_DIR)/*.S))
PV_OBJS := $(patsubst $(PV_DIR)/%,$(PV_OUT)/obj/%.o,$(basename $(PV_SOURCES)))

$(PV_OUT)/obj/%.o: $(PV_DIR)/%.cpp
	@mkdir -p $(dir $@)
	@echo "  CXX  $<  [pv]"
	@$(CXX) $(PV_CXXFLAGS) -MMD -MP -c $< -o $@
$(PV_OUT)/obj/%.o: $(PV_DIR)/%.S
	@mkdir -p $(dir $@)
	@echo "  AS   $<  [pv]"
	@$(CXX) $(PV_CXXFLAGS) -MMD -MP -c $< -o $@

$(PV_KERNEL): $(PV_OBJS) $(PV_LDSCRIPT)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	@$(LD) $(PV_LDFLAGS) -o $@ $(PV_OBJS)

-include $(PV_OBJS:.o=.d)

# The oracle: the kernel as dom0 on real Xen (tests/pv/xen-iso.sh makes the
# ISO at run time, so that a missing Xen package is a reported failure, not
# a build error).
PV_ORACLE_BIN := build/host/pv-oracle
$(PV_ORACLE_BIN): build/host/tests/pv/oracle_main.o build/host/tests/integration/xen_oracle.o build/host/tests/integration/pv_report.o \
                  build/host/tests/integration/qemu_runner.o
	$(HOST_CXX) $(HOST_SANITIZE) -o $@ $^

.PHONY: pv-kernel pv-oracle
pv-kernel: $(PV_KERNEL)
pv-oracle: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(PV_KERNEL) $(PV_ORACLE_BIN)
	VIRTUE_BUILD=$(O) $(PV_ORACLE_BIN) $(PV_KERNEL)
