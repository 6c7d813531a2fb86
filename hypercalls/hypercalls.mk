# The native family's generated code: one definition,
# hypercalls/native.toml, yields the shared ABI header, the SDK's typed
# wrappers, the hypervisor's dispatch table and docs/native-abi.md.

GEN_DIR := $(O)/gen
NATIVE_SPEC := hypercalls/native.toml
NATIVE_GEN := hypercalls/gen_native.py
NATIVE_ABI_H := $(GEN_DIR)/include/virtue/native_abi.h
NATIVE_CALLS_HPP := $(GEN_DIR)/include/virtue/native_calls.hpp
NATIVE_DISPATCH_HPP := $(GEN_DIR)/hypervisor/native_dispatch.hpp
NATIVE_DOC_GEN := $(GEN_DIR)/native-abi.md
NATIVE_GENERATED := $(NATIVE_ABI_H) $(NATIVE_CALLS_HPP) $(NATIVE_DISPATCH_HPP) $(NATIVE_DOC_GEN)

$(NATIVE_GENERATED) &: $(NATIVE_SPEC) $(NATIVE_GEN)
	@echo "  GEN  native family from $(NATIVE_SPEC)"
	@python3 $(NATIVE_GEN) $(NATIVE_SPEC) --abi-header $(NATIVE_ABI_H) --sdk-header $(NATIVE_CALLS_HPP) \
	    --dispatch $(NATIVE_DISPATCH_HPP) --doc $(NATIVE_DOC_GEN)

# docs/native-abi.md is the checked-in copy; `make docs` refreshes it and
# `make test` fails if it differs from the definition.
docs: $(NATIVE_DOC_GEN)
	cp $(NATIVE_DOC_GEN) docs/native-abi.md
