# The generated code of both hypercall families. hypercalls/native.toml (the
# native family) and hypercalls/xen.toml (the Xen family as implemented)
# yield the shared ABI header, the SDK's wrappers and its Errno, the hypervisor's
# handler declarations and dispatch glue, and docs/native-abi.md.

GEN_DIR := $(O)/gen
NATIVE_SPEC := hypercalls/native.toml
XEN_SPEC := hypercalls/xen.toml
NATIVE_GEN := hypercalls/gen_native.py
NATIVE_ABI_H := $(GEN_DIR)/include/virtue/native_abi.h
NATIVE_CALLS_HPP := $(GEN_DIR)/include/virtue/native_calls.hpp
NATIVE_ERRNO_HPP := $(GEN_DIR)/include/virtue/native_errno.hpp
NATIVE_DISPATCH_HPP := $(GEN_DIR)/hypervisor/native_dispatch.hpp
NATIVE_HANDLERS_HPP := $(GEN_DIR)/hypervisor/native_handlers.hpp
XEN_DISPATCH_HPP := $(GEN_DIR)/hypervisor/xen_dispatch.hpp
XEN_HANDLERS_HPP := $(GEN_DIR)/hypervisor/xen_handlers.hpp
DECLARED_ERRORS_HPP := $(GEN_DIR)/include/virtue/declared_errors.hpp
NATIVE_DOC_GEN := $(GEN_DIR)/native-abi.md
NATIVE_GENERATED := $(NATIVE_ABI_H) $(NATIVE_CALLS_HPP) $(NATIVE_ERRNO_HPP) $(NATIVE_DISPATCH_HPP) $(NATIVE_HANDLERS_HPP) \
                    $(XEN_DISPATCH_HPP) $(XEN_HANDLERS_HPP) $(DECLARED_ERRORS_HPP) $(NATIVE_DOC_GEN)

$(NATIVE_GENERATED) &: $(NATIVE_SPEC) $(XEN_SPEC) $(NATIVE_GEN)
	@echo "  GEN  hypercall families from $(NATIVE_SPEC) and $(XEN_SPEC)"
	@python3 $(NATIVE_GEN) $(NATIVE_SPEC) --abi-header $(NATIVE_ABI_H) --sdk-header $(NATIVE_CALLS_HPP) \
	    --errno-header $(NATIVE_ERRNO_HPP) \
	    --dispatch $(NATIVE_DISPATCH_HPP) --handlers $(NATIVE_HANDLERS_HPP) --doc $(NATIVE_DOC_GEN) \
	    --xen-spec $(XEN_SPEC) --xen-dispatch $(XEN_DISPATCH_HPP) --xen-handlers $(XEN_HANDLERS_HPP) \
	    --errors-data $(DECLARED_ERRORS_HPP)

# docs/native-abi.md is the checked-in copy; `make docs` refreshes it and
# `make test` fails if it differs from the definition.
docs: $(NATIVE_DOC_GEN)
	cp $(NATIVE_DOC_GEN) docs/native-abi.md
