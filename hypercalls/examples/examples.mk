# Example native domains (hypercalls/sdk/README.md): one line each.
$(eval $(call native_domain,hello,hypercalls/examples/hello/main.cpp))
$(eval $(call native_domain,spinner,hypercalls/examples/spinner/main.cpp))
$(eval $(call native_domain,two-process,hypercalls/examples/two_process/main.cpp))
$(eval $(call native_domain,gc-barrier,hypercalls/examples/gc_barrier/main.cpp))
