# The native-domain SDK (included from the top-level Makefile): the runtime
# library $(O)/sdk/libvirtue-sdk.a and the make function native_domain, which
# turns one line per domain into a linked image:
#
#   $(eval $(call native_domain,NAME,SOURCES[,EXTRA_CXXFLAGS]))
#
# builds $(O)/domains/NAME.elf from SOURCES (.cpp or .S, paths from the
# repository root; objects under $(O)/domains/obj/NAME/) and adds it to
# NATIVE_DOMAINS (so `make all` builds it).

SDK_DIR := hypercalls/sdk
SDK_OUT := $(O)/sdk
SDK_LIB := $(SDK_OUT)/libvirtue-sdk.a
SDK_CRT0 := $(SDK_OUT)/obj/crt0.o
SDK_LDSCRIPT := $(SDK_DIR)/domain.ld
# Debian's libfdt.a, as is: its %fs:0x28 canary reads find each thread's
# block (runtime/start.cpp, runtime/stack_chk.cpp).
SDK_LIBFDT := /usr/lib/x86_64-linux-gnu/libfdt.a

SDK_CXXFLAGS := -std=c++20 -O2 -g -ffreestanding -fno-exceptions -fno-rtti \
    -fno-threadsafe-statics -fno-use-cxa-atexit -fno-pie -fno-pic -mcmodel=small \
    -static -fno-stack-protector -fno-asynchronous-unwind-tables \
    -Wall -Wextra -Werror -I$(GEN_DIR)/include -I$(SDK_DIR)/include \
    -D__XEN_INTERFACE_VERSION__=0x00040e00 # Xen's headers in their latest form
# The runtime implements memset & co.: keep GCC from turning its loops back
# into calls to them.
SDK_RUNTIME_CXXFLAGS := $(SDK_CXXFLAGS) -fno-tree-loop-distribute-patterns
SDK_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
    --build-id=none --orphan-handling=error -T $(SDK_LDSCRIPT)

SDK_RUNTIME_SOURCES := $(sort $(wildcard $(SDK_DIR)/runtime/*.cpp))
# The C memory/string functions are the hypervisor's own freestanding ones
# (hypervisor/lib/string.cpp, and memcpy/memset from
# hypervisor/arch/x86/lib/string.cpp: the same set libfdt needs there),
# built again with the SDK's flags.
SDK_SHARED_STRING := $(SDK_OUT)/obj/shared/string.o $(SDK_OUT)/obj/shared/arch_string.o
SDK_OBJS := $(SDK_CRT0) $(patsubst $(SDK_DIR)/%.cpp,$(SDK_OUT)/obj/%.o,$(SDK_RUNTIME_SOURCES)) \
    $(SDK_SHARED_STRING)

$(SDK_OUT)/obj/shared/string.o: hypervisor/lib/string.cpp hypervisor/lib/string.hpp
	@mkdir -p $(dir $@)
	@echo "  CXX  $<  [sdk]"
	@$(CXX) $(SDK_RUNTIME_CXXFLAGS) -Ihypervisor -MMD -MP -c $< -o $@
$(SDK_OUT)/obj/shared/arch_string.o: hypervisor/arch/x86/lib/string.cpp hypervisor/lib/string.hpp
	@mkdir -p $(dir $@)
	@echo "  CXX  $<  [sdk]"
	@$(CXX) $(SDK_RUNTIME_CXXFLAGS) -Ihypervisor -MMD -MP -c $< -o $@

$(SDK_OUT)/obj/%.o: $(SDK_DIR)/%.cpp $(NATIVE_CALLS_HPP)
	@mkdir -p $(dir $@)
	@echo "  CXX  $<"
	@$(CXX) $(SDK_RUNTIME_CXXFLAGS) -MMD -MP -c $< -o $@

$(SDK_OUT)/obj/%.o: $(SDK_DIR)/%.S $(NATIVE_CALLS_HPP)
	@mkdir -p $(dir $@)
	@echo "  AS   $<"
	@$(CXX) $(SDK_CXXFLAGS) -MMD -MP -c $< -o $@

$(SDK_LIB): $(SDK_OBJS)
	@mkdir -p $(dir $@)
	@echo "  AR   $@"
	@rm -f $@ && ar rcsD $@ $^

-include $(SDK_OBJS:.o=.d)

# $(1) name, $(2) sources, $(3) extra compiler flags (optional).
define native_domain
NATIVE_DOMAINS += $(O)/domains/$(1).elf
SDK_DOMAIN_OBJS_$(1) := $(patsubst %,$(O)/domains/obj/$(1)/%.o,$(basename $(2)))

$(O)/domains/obj/$(1)/%.o: %.cpp $(NATIVE_CALLS_HPP)
	@mkdir -p $$(dir $$@)
	@echo "  CXX  $$<  [$(1)]"
	@$(CXX) $(SDK_CXXFLAGS) $(3) -MMD -MP -c $$< -o $$@

$(O)/domains/obj/$(1)/%.o: %.S $(NATIVE_CALLS_HPP)
	@mkdir -p $$(dir $$@)
	@echo "  AS   $$<  [$(1)]"
	@$(CXX) $(SDK_CXXFLAGS) $(3) -MMD -MP -c $$< -o $$@

$(O)/domains/$(1).elf: $$(SDK_DOMAIN_OBJS_$(1)) $(SDK_CRT0) $(SDK_LIB) $(SDK_LIBFDT) $(SDK_LDSCRIPT)
	@mkdir -p $$(dir $$@)
	@echo "  LD   $$@"
	@$(LD) $(SDK_LDFLAGS) -o $$@ $(SDK_CRT0) $$(SDK_DOMAIN_OBJS_$(1)) \
	    --start-group $(SDK_LIB) $(SDK_LIBFDT) --end-group

-include $$(SDK_DOMAIN_OBJS_$(1):.o=.d)
endef
