# Virtue top-level Makefile.
#
#   make            install what is missing, build the hypervisor ELF, the GRUB2
#                   ISO (build/virtue.iso) and the native domains
#   make run        install what is missing, build, boot the default config in QEMU
#   make run CONFIG=path/to.dts   ... boot that configuration and the domains it names
#   make run-linux  boot Debian's cloud kernel as a PV guest, its shell on the
#                   serial console (docs/linux-guest.md)
#   make test       install what is missing, build, run unit + integration tests
#   make bench      print the benchmark figures (docs/performance.md)
#   make bench-vs-xen  the PV test kernel's figures on real Xen and on Virtue
#   make pv-oracle  boot the PV test kernel as dom0 on real Xen 4.17 and print
#                   its checks (docs/pv-oracle.md)
#   make FLAVOUR=release ...   optimised build (default: debug)

FLAVOUR ?= debug
ifeq ($(FLAVOUR),release)
O := build/release
else ifeq ($(FLAVOUR),debug)
O := build
else
$(error FLAVOUR must be debug or release)
endif

CXX ?= g++
CXX := $(if $(filter default,$(origin CXX)),g++,$(CXX))
LD := ld
CPP := cpp
JOBS ?= $(shell nproc)

.DEFAULT_GOAL := all
.PHONY: all images run run-linux test unit integration bench deps clean iso docs

include hypercalls/hypercalls.mk
# Native domains: the SDK, then every domain built with it (a Makefile line
# each). Before hypervisor.mk, whose ISO rule lists them.
NATIVE_DOMAINS :=
include hypercalls/sdk/sdk.mk
include hypercalls/examples/examples.mk
include tests/domains/domains.mk
include tests/bench/bench.mk
include hypervisor/hypervisor.mk
# The PV test kernel and the real-Xen oracle; before tests.mk, whose
# integration inputs list the kernel.
include tests/pv/pv.mk
# Debian's cloud kernel and a busybox initramfs, the Linux guest.
include tests/linux/linux.mk
include tests/tests.mk

# Packages first (the build needs Debian's headers, e.g. xen/xen.h), then the
# build itself in a second make, so that no compile starts before them.
all: deps
	@$(MAKE) --no-print-directory images
images: $(O)/virtue.iso $(NATIVE_DOMAINS)

# ---- Debian packages: `make run` and `make test` set up a fresh Debian 12 ----
# ---- machine by themselves (README, "Set-up: two commands").             ----
DEB_PACKAGES := g++ make binutils qemu-system-x86 grub-pc-bin grub-common \
                xorriso mtools libboost-test-dev libfdt-dev libxen-dev \
                device-tree-compiler python3 xen-hypervisor-4.17-amd64 lz4 xz-utils cpio
deps: build/.deps-stamp
build/.deps-stamp: Makefile
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@mkdir -p build && touch $@

QEMU_SMP ?= 2
QEMU_MEM ?= 512
# -cpu max,-smap: Debian 12's QEMU 7.2 TCG pops the frame of an iretq executed
# at CPL3 with supervisor accesses, so with CR4.SMAP set a ring-3 PV guest
# kernel's own iretq faults (real Xen's dom0 dies the same way under -cpu max).
# CONFIG=path/to.dts: boot that configuration (hypervisor/hypervisor.mk, RUN_ISO).
run: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(RUN_ISO)
	qemu-system-x86_64 -accel tcg -cpu max,-smap -smp $(QEMU_SMP) -m $(QEMU_MEM) \
	  -display none -serial mon:stdio -no-reboot \
	  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	  -cdrom $(RUN_ISO) -boot d

# Debian's cloud kernel as a PV guest (fetched and unpacked by
# tests/linux/linux.mk) beside the native `hello` domain; the serial
# console is the guest's terminal (hypervisor/image/configs/linux.dts).
run-linux: deps
	@$(MAKE) --no-print-directory -j$(JOBS) linux-guest
	@$(MAKE) --no-print-directory run CONFIG=hypervisor/image/configs/linux.dts QEMU_MEM=768 \
	  CONFIG_MODULES="linux=$(LINUX_KERNEL) linux-initrd=$(LINUX_INITRD)"

clean:
	rm -rf build
