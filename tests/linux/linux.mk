# The Linux guest: Debian 12's own cloud kernel (fetched with apt-get
# download, never committed; the version the linux-image-cloud-amd64
# package names today) and an initramfs of Debian's static busybox with
# tests/linux/init. Both are modules of the Linux boots (make run-linux,
# tests/integration/linux_guest_test.cpp).
LINUX_DIR := build/linux
LINUX_KERNEL := $(LINUX_DIR)/vmlinux
LINUX_INITRD := $(LINUX_DIR)/initramfs.cpio.gz

# The .deb files, fetched once (apt's lists first on a fresh machine).
$(LINUX_DIR)/kernel.deb: | deps
	@mkdir -p $(LINUX_DIR)
	@apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || apt-get update -qq
	@pkg=$$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$$/\1/p' | head -1); \
	  echo "  FETCH $$pkg"; \
	  cd $(LINUX_DIR) && rm -f linux-image-*.deb && apt-get download -qq $$pkg 2>/dev/null && mv linux-image-*.deb kernel.deb
$(LINUX_DIR)/busybox.deb: | deps
	@mkdir -p $(LINUX_DIR)
	@apt-cache show busybox-static >/dev/null 2>&1 || apt-get update -qq
	@echo "  FETCH busybox-static"
	@cd $(LINUX_DIR) && rm -f busybox-static*.deb && apt-get download -qq busybox-static 2>/dev/null && mv busybox-static*.deb busybox.deb

$(LINUX_KERNEL): $(LINUX_DIR)/kernel.deb tests/linux/extract_vmlinux.py
	@echo "  VMLINUX $@"
	@rm -rf $(LINUX_DIR)/kernel && mkdir -p $(LINUX_DIR)/kernel
	@dpkg-deb -x $< $(LINUX_DIR)/kernel
	@python3 tests/linux/extract_vmlinux.py $(LINUX_DIR)/kernel/boot/vmlinuz-* $@
	@ls $(LINUX_DIR)/kernel/boot/vmlinuz-* | sed 's|.*/vmlinuz-||' > $(LINUX_DIR)/kernel-version

# The guest's benchmark (make bench-vs-xen): a static program of ours.
$(LINUX_DIR)/guest-bench: tests/linux/guest_bench.c
	@mkdir -p $(LINUX_DIR)
	@echo "  CC   $<  [static, for the Linux guest]"
	@gcc -std=gnu11 -O2 -Wall -Wextra -Werror -static -o $@ $<

# The initramfs: busybox, /init, the benchmark and the two Xen device
# modules it uses (/dev/xen/evtchn, /dev/xen/privcmd: modules in these
# kernels, taken from the same package as the kernel).
$(LINUX_INITRD): $(LINUX_DIR)/busybox.deb tests/linux/init tests/linux/make_initramfs.sh $(LINUX_DIR)/guest-bench $(LINUX_KERNEL)
	@echo "  INITRD $@"
	@sh tests/linux/make_initramfs.sh $@ $(LINUX_DIR)/busybox.deb $(LINUX_DIR)/kernel $(LINUX_DIR)/guest-bench tests/linux/init

# Debian's generic kernel (linux-image-amd64), for `make bench-vs-xen`
# only: the cloud kernel cannot be Xen's dom0, the generic one can, so the
# comparison boots the generic kernel as dom0 on real Xen and as a domU on
# Virtue (docs/performance.md).
LINUX_GENERIC_DIR := $(LINUX_DIR)/generic
LINUX_GENERIC_KERNEL := $(LINUX_GENERIC_DIR)/vmlinux
LINUX_GENERIC_INITRD := $(LINUX_GENERIC_DIR)/initramfs.cpio.gz
$(LINUX_GENERIC_DIR)/kernel.deb: | deps
	@mkdir -p $(LINUX_GENERIC_DIR)
	@apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
	@pkg=$$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$$/\1/p' | head -1); \
	  echo "  FETCH $$pkg"; \
	  cd $(LINUX_GENERIC_DIR) && rm -f linux-image-*.deb && apt-get download -qq $$pkg 2>/dev/null && mv linux-image-*.deb kernel.deb
$(LINUX_GENERIC_KERNEL): $(LINUX_GENERIC_DIR)/kernel.deb tests/linux/extract_vmlinux.py
	@echo "  VMLINUX $@"
	@rm -rf $(LINUX_GENERIC_DIR)/kernel && mkdir -p $(LINUX_GENERIC_DIR)/kernel
	@dpkg-deb -x $< $(LINUX_GENERIC_DIR)/kernel
	@python3 tests/linux/extract_vmlinux.py $(LINUX_GENERIC_DIR)/kernel/boot/vmlinuz-* $@
$(LINUX_GENERIC_INITRD): $(LINUX_DIR)/busybox.deb tests/linux/init tests/linux/make_initramfs.sh $(LINUX_DIR)/guest-bench $(LINUX_GENERIC_KERNEL)
	@echo "  INITRD $@"
	@sh tests/linux/make_initramfs.sh $@ $(LINUX_DIR)/busybox.deb $(LINUX_GENERIC_DIR)/kernel $(LINUX_DIR)/guest-bench tests/linux/init

linux-guest: $(LINUX_KERNEL) $(LINUX_INITRD)
.PHONY: linux-guest
