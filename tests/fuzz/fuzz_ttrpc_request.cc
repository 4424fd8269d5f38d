// The ttrpc envelope as a server receives it (ttrpc.Request) and as a client receives it
// (ttrpc.Response): parsing arbitrary bytes must not crash, and what parses must re-encode to a
// form that parses to the same bytes again (stable round trip).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "ttrpc/request.pb.h"

template <typename Message>
static void roundTrip(const uint8_t* data, size_t size) {
  Message m;
  if (!m.ParseFromArray(data, static_cast<int>(size))) return;
  std::string once = m.SerializeAsString();
  Message again;
  if (!again.ParseFromString(once)) std::abort();
  if (again.SerializeAsString() != once) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (4u << 20)) return 0;
  roundTrip<ttrpc::Request>(data, size);
  roundTrip<ttrpc::Response>(data, size);
  return 0;
}
