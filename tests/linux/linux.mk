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
	@gcc -std=c11 -O2 -Wall -Wextra -Werror -static -o $@ $<

# The initramfs: busybox, /init, the benchmark and the two Xen device
# modules it uses (/dev/xen/evtchn, /dev/xen/privcmd: modules in the cloud
# kernel, taken from the same package as the kernel).
$(LINUX_INITRD): $(LINUX_DIR)/busybox.deb tests/linux/init $(LINUX_DIR)/guest-bench $(LINUX_KERNEL)
	@echo "  INITRD $@"
	@rm -rf $(LINUX_DIR)/busybox $(LINUX_DIR)/initramfs && mkdir -p $(LINUX_DIR)/busybox $(LINUX_DIR)/initramfs/bin $(LINUX_DIR)/initramfs/lib/modules
	@dpkg-deb -x $< $(LINUX_DIR)/busybox
	@cp $(LINUX_DIR)/busybox/bin/busybox $(LINUX_DIR)/initramfs/bin/busybox
	@cp $(LINUX_DIR)/guest-bench $(LINUX_DIR)/initramfs/bin/guest-bench
	@cp $(LINUX_DIR)/kernel/lib/modules/*/kernel/drivers/xen/xen-evtchn.ko \
	    $(LINUX_DIR)/kernel/lib/modules/*/kernel/drivers/xen/xen-privcmd.ko $(LINUX_DIR)/initramfs/lib/modules/
	@cp tests/linux/init $(LINUX_DIR)/initramfs/init && chmod 755 $(LINUX_DIR)/initramfs/init
	@cd $(LINUX_DIR)/initramfs && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 > ../initramfs.cpio.gz

linux-guest: $(LINUX_KERNEL) $(LINUX_INITRD)
.PHONY: linux-guest
