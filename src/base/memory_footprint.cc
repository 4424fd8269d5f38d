#include "base/memory_footprint.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace pp::footprint {

void tuneMalloc(int arenas) {
  if (arenas > 0) mallopt(M_ARENA_MAX, arenas);
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

size_t releaseStartupMemory() {
  malloc_trim(0);
#ifdef MADV_PAGEOUT
  FILE* maps = std::fopen("/proc/self/maps", "re");
  if (!maps) return 0;
  size_t kib = 0;
  char line[4608];
  while (std::fgets(line, sizeof line, maps)) {
    unsigned long start = 0, end = 0;
    char perms[8] = {};
    int pathAt = 0;
    if (std::sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &pathAt) < 3) continue;
    // Only read-only file mappings: written pages (.data, relocated data) are anonymous copies
    // that paging out would have to swap.
    if (line[pathAt] != '/' || perms[1] == 'w') continue;
    if (::madvise(reinterpret_cast<void*>(start), end - start, MADV_PAGEOUT) == 0)
      kib += (end - start) / 1024;
  }
  std::fclose(maps);
  return kib;
#else
  return 0;
#endif
}

}  // namespace pp::footprint
