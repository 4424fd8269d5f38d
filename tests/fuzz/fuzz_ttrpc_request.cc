// The ttrpc envelope as a server receives it (ttrpc.Request) and as a client receives it
// (ttrpc.Response), from untrusted bytes: parsing must not crash, and whatever parses must
// re-serialize to bytes that parse back and serialize to the same bytes again (a stable round
// trip), with ByteSizeLong() agreeing with what was written.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "ttrpc/request.pb.h"

namespace {

template <typename Message>
void roundTrip(const uint8_t* data, size_t size) {
  Message first;
  if (!first.ParseFromArray(data, static_cast<int>(size))) return;
  std::string once = first.SerializeAsString();
  if (first.ByteSizeLong() != once.size()) std::abort();
  Message second;
  if (!second.ParseFromString(once)) std::abort();
  std::string twice = second.SerializeAsString();
  if (twice != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (4u << 20)) return 0;  // a ttrpc body is at most 4 MiB
  roundTrip<::ttrpc::Request>(data, size);
  roundTrip<::ttrpc::Response>(data, size);
  return 0;
}
