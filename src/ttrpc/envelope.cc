#include "ttrpc/envelope.h"

#include "ttrpc/request.pb.h"

namespace pp::ttrpc {
namespace {

void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void putBytesField(std::string& out, uint8_t tag, std::string_view bytes) {
  out.push_back(static_cast<char>(tag));
  putVarint(out, bytes.size());
  out.append(bytes);
}

}  // namespace

std::string encodeResponse(const Result<std::string>& result) {
  std::string out;
  if (result) {
    // Hand-encoded: Response{payload = 2} without copying the payload into a message object.
    if (!result->empty()) {
      out.reserve(result->size() + 6);
      putBytesField(out, 0x12, *result);
    }
    return out;
  }
  ::ttrpc::Response resp;
  resp.mutable_status()->set_code(static_cast<int32_t>(result.error().code));
  resp.mutable_status()->set_message(result.error().message);
  resp.SerializeToString(&out);
  return out;
}

Result<std::string> decodeResponse(std::string_view body) {
  ::ttrpc::Response resp;
  if (!resp.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return fail(Code::kInternal, "ttrpc: malformed response envelope");
  }
  if (resp.has_status() && resp.status().code() != 0) {
    return fail(static_cast<Code>(resp.status().code()), resp.status().message());
  }
  return std::move(*resp.mutable_payload());
}

std::string encodeRequest(std::string_view service, std::string_view method,
                          std::string_view payload, int64_t timeoutNano, const Metadata& metadata) {
  std::string out;
  out.reserve(service.size() + method.size() + payload.size() + 24);
  // proto3 omits empty fields; doing the same keeps our bytes identical to Go's.
  if (!service.empty()) putBytesField(out, 0x0a, service);
  if (!method.empty()) putBytesField(out, 0x12, method);
  if (!payload.empty()) putBytesField(out, 0x1a, payload);
  if (timeoutNano != 0) {
    out.push_back(0x20);
    putVarint(out, static_cast<uint64_t>(timeoutNano));
  }
  for (const auto& [k, v] : metadata) {
    std::string kv;
    putBytesField(kv, 0x0a, k);
    putBytesField(kv, 0x12, v);
    putBytesField(out, 0x2a, kv);
  }
  return out;
}

}  // namespace pp::ttrpc
