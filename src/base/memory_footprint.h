// Process-wide memory settings for the long-running daemons (agent-protocol-forwarder in every
// pod VM, cloud-api-adaptor on every node), whose idle memory is their users' memory.
#pragma once

#include <cstddef>

namespace pp::footprint {

// Call first thing in main, before any thread exists.
//  - At most `arenas` glibc malloc arenas (M_ARENA_MAX; the default is 8 per core). Each arena
//    is a heap of its own that a thread keeps using, and free memory in one is not reusable by
//    the others nor returned while anything sits above it: a relay thread's few allocations cost
//    a whole arena's worth of dirty pages. The daemons' threads mostly wait, so sharing costs
//    no measurable contention.
//  - M_TRIM_THRESHOLD fixed at its default (128 KiB). Setting it turns off glibc's dynamic
//    thresholds, which after the first large buffer is freed (a 4 MiB ttrpc frame, a big cloud
//    response) raise both the mmap and the trim threshold to that size for good, so that later
//    large buffers come from the heap and the freed heap top is kept instead of returned.
void tuneMalloc(int arenas);

// Call once start-up is done (the daemon listens). Gives back what start-up used and no longer
// needs:
//  - free pages inside the malloc heaps (malloc_trim), e.g. the parsed configuration, the
//    certificates' PEM text, flag tables;
//  - the read-only file pages of the program and its shared libraries (code, constants, the
//    dynamic linker's symbol tables): they are resident because start-up ran (flag parsing,
//    JSON, provider set-up, relocation), and the kernel maps up to 64 KiB around every page
//    touched. MADV_PAGEOUT drops those that only this process maps (pages other processes
//    map stay); they are clean file pages, so nothing is written anywhere, and the code that
//    runs later (TLS handshakes, relaying) comes back on its first use from the page cache or
//    the disk. Ignored by kernels before 5.4.
// Returns the KiB of mappings the kernel was asked to page out (for the log).
size_t releaseStartupMemory();

}  // namespace pp::footprint
