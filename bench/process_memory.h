// Where a process's resident pages are, from /proc/<pid>/smaps, for the memory rows of
// bench_forwarder and bench_sandboxes. Every mapping is put in one part:
//   program            the executable's own file mappings (text, rodata, data; for a static
//                      program this includes libstdc++, OpenSSL, protobuf and libc)
//   <library>          a shared library's file mappings, by name without version (libcrypto)
//   heap (brk)         glibc's main malloc arena
//   malloc arenas      glibc's per-thread arenas: anonymous mappings that start on a 64 MiB
//                      boundary (HEAP_MAX_SIZE on 64-bit), the rest of the 64 MiB reserved
//   thread stacks      anonymous read-write mappings right above a PROT_NONE guard, the way
//                      glibc lays out a pthread stack; plus [stack], the main thread's
//   anonymous          every other anonymous mapping (allocations of 128 KiB and more that
//                      malloc maps on their own, asio's and OpenSSL's own mappings)
//   kernel             [vdso], [vvar], [vsyscall]
// Each part has RSS, PSS (shared pages divided by their sharers: the honest share of
// a shared library) and private dirty (what this process alone costs the machine).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace pp::bench {

struct PageCounts {
  long rssKiB = 0;
  long pssKiB = 0;
  long privateDirtyKiB = 0;
};

using MemoryParts = std::map<std::string, PageCounts>;

// The part a file mapping belongs to: the program, or a library's name without directory
// and version ("/usr/lib/x86_64-linux-gnu/libcrypto.so.3" -> "libcrypto").
inline std::string partOfFile(const std::string& path, const std::string& exe) {
  if (path == exe) return "program";
  std::string name = path.substr(path.rfind('/') + 1);
  if (auto so = name.find(".so"); so != std::string::npos) name.resize(so);
  if (name.rfind("ld-linux", 0) == 0) return "ld.so";
  return name;
}

inline MemoryParts memoryParts(pid_t pid) {
  constexpr unsigned long kArenaAlign = 64ul << 20;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string exe;
  {
    char buf[4096];
    ssize_t n = ::readlink((dir + "/exe").c_str(), buf, sizeof buf - 1);
    if (n > 0) exe.assign(buf, static_cast<size_t>(n));
  }
  struct Mapping {
    unsigned long start = 0, end = 0;
    std::string perms, path;
    PageCounts pages;
  };
  std::vector<Mapping> maps;
  std::ifstream in(dir + "/smaps");
  std::string line;
  while (std::getline(in, line)) {
    const size_t dash = line.find('-');
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && dash < 17 &&
        line.find(' ') > dash) {
      Mapping m;
      std::istringstream f(line);
      std::string range, offset, dev, inode;
      f >> range >> m.perms >> offset >> dev >> inode;
      std::getline(f >> std::ws, m.path);
      if (m.path.ends_with(" (deleted)")) m.path.resize(m.path.size() - 10);
      m.start = std::strtoul(range.c_str(), nullptr, 16);
      m.end = std::strtoul(range.c_str() + dash + 1, nullptr, 16);
      maps.push_back(std::move(m));
    } else if (!maps.empty()) {
      auto field = [&](const char* name) {
        return line.rfind(name, 0) == 0 ? std::strtol(line.c_str() + std::strlen(name), nullptr, 10)
                                        : 0;
      };
      maps.back().pages.rssKiB += field("Rss:");
      maps.back().pages.pssKiB += field("Pss:");
      maps.back().pages.privateDirtyKiB += field("Private_Dirty:");
    }
  }
  MemoryParts parts;
  for (size_t i = 0; i < maps.size(); ++i) {
    const Mapping& m = maps[i];
    std::string part;
    if (m.path == "[heap]") {
      part = "heap (brk)";
    } else if (m.path == "[stack]") {
      part = "thread stacks";
    } else if (m.path == "[vdso]" || m.path == "[vvar]" || m.path == "[vsyscall]") {
      part = "kernel";
    } else if (!m.path.empty() && m.path[0] == '/') {
      part = partOfFile(m.path, exe);
    } else if (m.path.empty() && m.start % kArenaAlign == 0 && m.perms.starts_with("rw")) {
      part = "malloc arenas";
    } else if (m.path.empty() && m.perms.starts_with("rw") && i > 0 && maps[i - 1].end == m.start &&
               maps[i - 1].path.empty() && maps[i - 1].perms.starts_with("---")) {
      part = "thread stacks";
    } else {
      part = "anonymous";
    }
    PageCounts& p = parts[part];
    p.rssKiB += m.pages.rssKiB;
    p.pssKiB += m.pages.pssKiB;
    p.privateDirtyKiB += m.pages.privateDirtyKiB;
  }
  std::erase_if(parts, [](const auto& kv) { return kv.second.rssKiB == 0; });
  return parts;
}

inline PageCounts total(const MemoryParts& parts) {
  PageCounts t;
  for (const auto& [name, p] : parts) {
    t.rssKiB += p.rssKiB;
    t.pssKiB += p.pssKiB;
    t.privateDirtyKiB += p.privateDirtyKiB;
  }
  return t;
}

inline long medianOf(std::vector<long> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Part by part medians of several samples (a part missing from a sample counts as 0 there).
inline MemoryParts medianParts(const std::vector<MemoryParts>& samples) {
  std::map<std::string, int> names;
  for (const auto& s : samples)
    for (const auto& [name, p] : s) names[name] = 1;
  MemoryParts out;
  for (const auto& [name, one] : names) {
    std::vector<long> rss, pss, dirty;
    for (const auto& s : samples) {
      auto it = s.find(name);
      PageCounts p = it == s.end() ? PageCounts{} : it->second;
      rss.push_back(p.rssKiB);
      pss.push_back(p.pssKiB);
      dirty.push_back(p.privateDirtyKiB);
    }
    out[name] = {medianOf(rss), medianOf(pss), medianOf(dirty)};
  }
  return out;
}

// Prints the parts of one or more columns (e.g. before/after), largest RSS of the last column
// first; parts below `minKiB` RSS in every column are summed into "other".
inline void printParts(const std::vector<std::pair<std::string, MemoryParts>>& columns,
                       long minKiB = 32) {
  std::map<std::string, int> names;
  for (const auto& [title, parts] : columns)
    for (const auto& [name, p] : parts) names[name] = 1;
  std::vector<std::pair<long, std::string>> order;
  std::vector<std::string> small;
  for (const auto& [name, one] : names) {
    long biggest = 0, last = 0;
    for (const auto& [title, parts] : columns) {
      auto it = parts.find(name);
      long rss = it == parts.end() ? 0 : it->second.rssKiB;
      biggest = std::max(biggest, rss);
      last = rss;
    }
    if (biggest < minKiB)
      small.push_back(name);
    else
      order.emplace_back(last, name);
  }
  std::sort(order.rbegin(), order.rend());
  std::printf("  %-24s", "KiB: RSS / PSS / priv.dirty");
  for (const auto& [title, parts] : columns) std::printf(" %26s", title.c_str());
  std::printf("\n");
  auto row = [&](const std::string& label, auto pick) {
    std::printf("  %-24s", label.c_str());
    for (const auto& [title, parts] : columns) {
      PageCounts p = pick(parts);
      char cell[64];
      std::snprintf(cell, sizeof cell, "%ld / %ld / %ld", p.rssKiB, p.pssKiB, p.privateDirtyKiB);
      std::printf(" %26s", cell);
    }
    std::printf("\n");
  };
  for (const auto& [rss, name] : order) {
    row(name, [&](const MemoryParts& parts) {
      auto it = parts.find(name);
      return it == parts.end() ? PageCounts{} : it->second;
    });
  }
  if (!small.empty()) {
    row("other (" + std::to_string(small.size()) + " parts)", [&](const MemoryParts& parts) {
      PageCounts t;
      for (const auto& name : small) {
        auto it = parts.find(name);
        if (it == parts.end()) continue;
        t.rssKiB += it->second.rssKiB;
        t.pssKiB += it->second.pssKiB;
        t.privateDirtyKiB += it->second.privateDirtyKiB;
      }
      return t;
    });
  }
  row("sum", [](const MemoryParts& parts) { return total(parts); });
}

}  // namespace pp::bench
