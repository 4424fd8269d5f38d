// What the fuzz targets share: an invariant check that aborts (libFuzzer reports an abort as a
// crash and keeps the input), and a way to cut one input into several.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace pp::fuzz {

inline void check(bool ok) {
  if (!ok) std::abort();
}

// The input as text.
inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Pieces of `input` split at a separator byte that does not occur in realistic documents, so
// one input can drive a function that takes several strings (the corpus keeps them apart).
inline std::vector<std::string_view> split(std::string_view input, char separator = '\x01') {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = input.find(separator, start);
    if (end == std::string_view::npos) {
      out.push_back(input.substr(start));
      return out;
    }
    out.push_back(input.substr(start, end - start));
    start = end + 1;
  }
}

// Cuts `stream` into pieces of 1 to maxPiece bytes, as the network would deliver it, and calls
// feed(piece) for each until it returns false. The sizes come from a generator seeded with the
// first byte, so the fuzzer controls them and a crash replays.
template <typename Feed>
void feedInPieces(std::string_view stream, size_t maxPiece, Feed feed) {
  uint32_t seed = stream.empty() ? 0 : static_cast<unsigned char>(stream[0]);
  while (!stream.empty()) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % maxPiece;
    if (n > stream.size()) n = stream.size();
    if (!feed(stream.substr(0, n))) return;
    stream.remove_prefix(n);
  }
}

}  // namespace pp::fuzz
