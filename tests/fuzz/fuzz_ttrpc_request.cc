// The ttrpc envelope as a server receives it (ttrpc.Request) and as a client receives it
// (ttrpc.Response), from untrusted bytes: parsing must not crash, and whatever parses must
// re-serialize to bytes that parse back and serialize to the same bytes again (a stable round
// trip), with ByteSizeLong() agreeing with what was written. The relay's peeks (ttrpc/peek.h,
// which read service, method, timeout and status code without decoding the rest) must agree
// with protobuf on everything both accept.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "ttrpc/peek.h"
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

void comparePeeks(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  pp::ttrpc::RequestHead head;
  ::ttrpc::Request req;
  if (pp::ttrpc::peekRequest(bytes, &head) && req.ParseFromArray(data, static_cast<int>(size))) {
    if (head.service != req.service() || head.method != req.method() ||
        head.timeoutNano != req.timeout_nano()) {
      std::abort();
    }
  }
  int32_t code = -1;
  ::ttrpc::Response resp;
  if (pp::ttrpc::peekResponseCode(bytes, &code) &&
      resp.ParseFromArray(data, static_cast<int>(size))) {
    if (code != resp.status().code()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (4u << 20)) return 0;  // a ttrpc body is at most 4 MiB
  roundTrip<::ttrpc::Request>(data, size);
  roundTrip<::ttrpc::Response>(data, size);
  comparePeeks(data, size);
  return 0;
}
