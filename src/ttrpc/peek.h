// Reading the routing fields of a ttrpc envelope straight from its wire bytes, for a relay that
// passes the rest on without decoding it (ttrpc::Route). Like frame.h, no dependency on the
// rest of the library, so that the fuzz targets can compare it with protobuf's own decoding.
#pragma once

#include <cstdint>
#include <string_view>

namespace pp::ttrpc {

// ttrpc.Request {service = 1, method = 2, payload = 3, timeout_nano = 4, metadata = 5}. As in
// protobuf, a field that appears twice takes its last value; unknown fields are skipped.
struct RequestHead {
  std::string_view service;  // views into the body
  std::string_view method;
  int64_t timeoutNano = 0;
};
// False when `body` is not well-formed wire format (truncated, a length past the end, a group
// or an unknown wire type): the caller then decodes it fully and answers the decoding error.
// Nested bytes (payload, metadata) are not looked into, nor strings checked for UTF-8: the
// server that decodes the call does that.
bool peekRequest(std::string_view body, RequestHead* head);

// The google.rpc.Status code of a ttrpc.Response {status = 1, payload = 2}: 0 when it has no
// status or code 0 (Go and Rust peers answer success so). False when the body or its status
// is not well-formed wire format.
bool peekResponseCode(std::string_view body, int32_t* code);

}  // namespace pp::ttrpc
