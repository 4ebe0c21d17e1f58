#!/bin/sh
# Runs node with glibc's allocator told to keep freed memory mapped. Each 12 MP inspection allocates and frees
# hundreds of MB in 10-50 MB blocks (onnxruntime's outputs, the planes, libvips' buffers); by default glibc hands such
# blocks back to the kernel on free and the next photo faults every page in again, which on the virtual machines
# measured here cost ~25 ms per 9 MB plane and 200-300 ms per photo (`npm run bench -- pipeline`, docs/benchmarks.md).
# The price is memory kept rather than returned: ~300 MB more resident per process (measured here after eight 12 MP
# inspections: 1.76 GB against 1.44 GB).
# A value already in the environment wins, so an operator can tune or undo any of them. `exec`: no wrapper process,
# signals reach node directly.
: "${MALLOC_TOP_PAD_:=268435456}"
: "${MALLOC_MMAP_THRESHOLD_:=33554432}"
: "${MALLOC_TRIM_THRESHOLD_:=1073741824}"
export MALLOC_TOP_PAD_ MALLOC_MMAP_THRESHOLD_ MALLOC_TRIM_THRESHOLD_
exec node "$@"
