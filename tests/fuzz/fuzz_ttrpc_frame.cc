// Feeds arbitrary bytes through the ttrpc frame decoder the way a connection does: frames are
// consumed from the front; oversized headers are skipped without buffering. Invariants: the
// decoder never reads past its input and never reports a body above the 4 MiB limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ttrpc/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pp::ttrpc;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    DecodedFrame f;
    size_t used = 0;
    DecodeStatus st = decodeFrame(in, &f, &used);
    if (used > in.size()) std::abort();
    if (st == DecodeStatus::kNeedMore) break;
    if (st == DecodeStatus::kFrame) {
      if (f.body.size() != f.header.length || f.body.size() > kMaxMessageLength) std::abort();
      if (f.body.data() < in.data() || f.body.data() + f.body.size() > in.data() + in.size()) std::abort();
      (void)validateHeader(f.header);
    } else if (validateHeader(f.header) != HeaderProblem::kTooLong) {
      std::abort();
    }
    if (used == 0) break;
    in.remove_prefix(used);
  }
  return 0;
}
