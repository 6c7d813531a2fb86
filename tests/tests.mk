# Test rules (included from the top-level Makefile).
#
# Unit tests: hypervisor logic compiled for the host under ASan/UBSan, with
# Boost.Test. Each area lists the hypervisor sources it tests in
# tests/unit/<area>.mk as `HOST_SOURCES += ...`.
# Integration tests: a Boost.Test harness that boots ISOs in QEMU.
# (-Wno-maybe-uninitialized: GCC 12 false positives inside std::regex under ASan.)
#
# Build time: the code under test (hypervisor/, hypercalls/) is compiled at
# -O1, as ASan recommends; the test files themselves at -O0. Each BOOST_TEST
# expands into much template code, and optimising it (with -g's variable
# tracking) was most of the build for no gain: the unit tests took 10.2
# CPU-minutes to build with everything at -O1, 3.0 with the test files at
# -O0 (one test file: 65 s against 17.5 s). Boost.Test is linked as a shared
# library (BOOST_TEST_DYN_LINK), not compiled into every file, and each
# source is compiled once, for the one unit-test binary. A precompiled
# Boost.Test header was measured and left out: it saves about 0.6 s of a test
# file's 2.5-13 s and costs 5 s to build. ccache is used when installed.

# Hardware-facing pieces for the code under test (tests/unit/fakes/): arch
# headers found before the x86 ones (a simulated interrupt flag, an
# identity direct map, one CPU's held-lock record), and link-time fakes of
# the heap, domains and the scheduler (fakes/host_kernel.hpp). VIRTUE_DEBUG:
# every spinlock taken in a test is checked against the lock ranks, as in
# the debug hypervisor.
HOST_FAKES := tests/unit/fakes
HOST_CXX := g++
HOST_CCACHE := $(if $(shell command -v ccache 2>/dev/null),ccache)
HOST_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined
HOST_OPT_CODE := -O1
HOST_OPT_TESTS := -O0
HOST_CXXFLAGS := -std=c++20 -g -Wall -Wextra -Werror -Wshadow \
    -Wno-missing-field-initializers -Wno-maybe-uninitialized -DVIRTUE_HOST_TEST -DVIRTUE_DEBUG $(HOST_SANITIZE) \
    -I$(HOST_FAKES)/include -I$(HV_ARCH)/include -I$(HV_DIR) -I. -Itests -I$(GEN_DIR)/include \
    -DVIRTUE_GEN_DIR='"$(GEN_DIR)"'
HOST_SOURCES :=
HOST_LDLIBS :=
-include tests/unit/*.mk

UNIT_TEST_SOURCES := $(sort $(wildcard tests/unit/*.cpp $(HOST_FAKES)/*.cpp))
UNIT_OBJS := $(patsubst %.cpp,build/host/%.o,$(UNIT_TEST_SOURCES) $(sort $(HOST_SOURCES)))
UNIT_BIN := build/host/unit-tests

# The test files (the more specific pattern wins), then the code under test.
build/host/tests/%.o: tests/%.cpp | $(NATIVE_GENERATED)
	@mkdir -p $(dir $@)
	@echo "  HOSTCXX $<"
	@$(HOST_CCACHE) $(HOST_CXX) $(HOST_CXXFLAGS) $(HOST_OPT_TESTS) -DBOOST_TEST_DYN_LINK -MMD -MP -c $< -o $@
build/host/%.o: %.cpp | $(NATIVE_GENERATED)
	@mkdir -p $(dir $@)
	@echo "  HOSTCXX $<"
	@$(HOST_CCACHE) $(HOST_CXX) $(HOST_CXXFLAGS) $(HOST_OPT_CODE) -DBOOST_TEST_DYN_LINK -MMD -MP -c $< -o $@

$(UNIT_BIN): $(UNIT_OBJS)
	$(HOST_CXX) $(HOST_SANITIZE) -o $@ $^ -lboost_unit_test_framework $(sort $(HOST_LDLIBS))

INTEGRATION_SOURCES := $(sort $(wildcard tests/integration/*.cpp))
INTEGRATION_OBJS := $(patsubst %.cpp,build/host/%.o,$(INTEGRATION_SOURCES))
INTEGRATION_BIN := build/host/integration-tests

$(INTEGRATION_BIN): $(INTEGRATION_OBJS)
	$(HOST_CXX) $(HOST_SANITIZE) -o $@ $^ -lboost_unit_test_framework

BENCH_BIN := build/host/boot-bench
$(BENCH_BIN): build/host/tests/bench/boot_bench.o build/host/tests/integration/qemu_runner.o
	$(HOST_CXX) $(HOST_SANITIZE) -o $@ $^

# make bench-vs-xen: the PV test kernel's bench mode on real Xen and on
# Virtue (tests/bench/pv_bench.cpp).
PV_BENCH_BIN := build/host/pv-bench
$(PV_BENCH_BIN): build/host/tests/bench/pv_bench.o build/host/tests/integration/xen_oracle.o \
                 build/host/tests/integration/pv_report.o build/host/tests/integration/qemu_runner.o
	$(HOST_CXX) $(HOST_SANITIZE) -o $@ $^

# make bench-vs-xen, the Linux half (tests/bench/linux_bench.cpp).
LINUX_BENCH_BIN := build/host/linux-bench
$(LINUX_BENCH_BIN): build/host/tests/bench/linux_bench.o build/host/tests/integration/xen_oracle.o \
                    build/host/tests/integration/pv_report.o build/host/tests/integration/qemu_runner.o
	$(HOST_CXX) $(HOST_SANITIZE) -o $@ $^

-include $(UNIT_OBJS:.o=.d) $(INTEGRATION_OBJS:.o=.d) $(wildcard build/host/tests/bench/*.d)

# The include layering of the hypervisor (tests/check_layers.py); also part
# of `make test`, as one test case.
.PHONY: check-layers bench-run bench-vs-xen bench-vs-xen-run
check-layers:
	@python3 tests/check_layers.py

unit: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(UNIT_BIN)
	$(UNIT_BIN)

# Integration test cases run one QEMU each, in parallel (tests/run-tests.sh).
# PV kernel images shaped like Debian's cloud kernel, and an initrd, that the
# integration tests boot as modules (tests/tools/make_pv_images.cpp).
PV_TEST_IMAGES := $(O)/test-images/pv-shaped.elf
build/host/make-pv-images: tests/tools/make_pv_images.cpp tests/unit/pv_kernel_builder.hpp
	@mkdir -p $(dir $@)
	@echo "  HOSTCXX $<"
	@$(HOST_CXX) -std=c++20 -O1 -Wall -Wextra -Werror -o $@ $<
$(PV_TEST_IMAGES): build/host/make-pv-images
	@mkdir -p $(dir $@)
	@build/host/make-pv-images $(dir $@)

INTEGRATION_INPUTS := $(O)/virtue.elf $(INTEGRATION_BIN) $(NATIVE_DOMAINS) $(TEST_CONFIG_DTBS) $(CONFIG_DTBS) \
    $(PV_TEST_IMAGES) $(PV_KERNEL) $(LINUX_KERNEL) $(LINUX_INITRD)

integration: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(INTEGRATION_INPUTS)
	VIRTUE_BUILD=$(O) sh tests/run-tests.sh integration

# Figures for docs/performance.md (programs that print, never timed assertions).
# The release flavour by default (what users run); BENCH_FLAVOUR=debug for
# the debug build's figures.
BENCH_FLAVOUR ?= release
bench: deps
	@$(MAKE) --no-print-directory FLAVOUR=$(BENCH_FLAVOUR) bench-run
bench-run:
	@$(MAKE) --no-print-directory -j$(JOBS) $(INTEGRATION_INPUTS) $(BENCH_BIN)
	VIRTUE_BUILD=$(O) VIRTUE_FLAVOUR=$(FLAVOUR) $(BENCH_BIN)

bench-vs-xen: deps
	@$(MAKE) --no-print-directory FLAVOUR=$(BENCH_FLAVOUR) bench-vs-xen-run
bench-vs-xen-run:
	@$(MAKE) --no-print-directory -j$(JOBS) $(INTEGRATION_INPUTS) $(PV_BENCH_BIN) $(LINUX_BENCH_BIN) \
	  $(LINUX_GENERIC_KERNEL) $(LINUX_GENERIC_INITRD)
	VIRTUE_BUILD=$(O) $(PV_BENCH_BIN) $(PV_BENCH_BOOTS)
	VIRTUE_BUILD=$(O) $(LINUX_BENCH_BIN) $(LINUX_BENCH_BOOTS)

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(O)/virtue.iso $(UNIT_BIN) $(INTEGRATION_INPUTS)
	@VIRTUE_BUILD=$(O) JOBS=$(JOBS) sh tests/run-tests.sh all
