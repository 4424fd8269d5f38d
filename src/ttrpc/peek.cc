#include "ttrpc/peek.h"

namespace pp::ttrpc {
namespace {

// A forward-only reader of protobuf wire format over a byte view.
class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}
  bool done() const { return pos_ == in_.size(); }

  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == in_.size()) return false;
      const auto b = static_cast<uint8_t>(in_[pos_++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;  // more than ten bytes
  }
  // The next field's number and wire type.
  bool tag(uint32_t* field, uint32_t* wireType) {
    uint64_t t;
    if (!varint(&t) || t > UINT32_MAX || (t >> 3) == 0) return false;
    *field = static_cast<uint32_t>(t >> 3);
    *wireType = static_cast<uint32_t>(t & 7);
    return true;
  }
  bool bytes(std::string_view* out) {
    uint64_t n;
    if (!varint(&n) || n > in_.size() - pos_) return false;
    *out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Skips a field's value; groups (wire types 3 and 4, deprecated) and unknown types fail.
  bool skip(uint32_t wireType) {
    uint64_t v;
    std::string_view b;
    switch (wireType) {
      case 0:
        return varint(&v);
      case 1:
        return advance(8);
      case 2:
        return bytes(&b);
      case 5:
        return advance(4);
      default:
        return false;
    }
  }

 private:
  bool advance(size_t n) {
    if (n > in_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

bool peekRequest(std::string_view body, RequestHead* head) {
  *head = RequestHead{};
  WireReader r(body);
  while (!r.done()) {
    uint32_t field, type;
    if (!r.tag(&field, &type)) return false;
    if (field == 1 && type == 2) {
      if (!r.bytes(&head->service)) return false;
    } else if (field == 2 && type == 2) {
      if (!r.bytes(&head->method)) return false;
    } else if (field == 4 && type == 0) {
      uint64_t v;
      if (!r.varint(&v)) return false;
      head->timeoutNano = static_cast<int64_t>(v);
    } else if (!r.skip(type)) {
      return false;
    }
  }
  return true;
}

bool peekResponseCode(std::string_view body, int32_t* code) {
  *code = 0;
  WireReader r(body);
  while (!r.done()) {
    uint32_t field, type;
    if (!r.tag(&field, &type)) return false;
    if (field == 1 && type == 2) {
      // google.rpc.Status{code = 1, message = 2, details = 3}; fields of a repeated message
      // field merge, so a later Status only changes the code if it carries one.
      std::string_view status;
      if (!r.bytes(&status)) return false;
      WireReader s(status);
      while (!s.done()) {
        uint32_t f, t;
        if (!s.tag(&f, &t)) return false;
        if (f == 1 && t == 0) {
          uint64_t v;
          if (!s.varint(&v)) return false;
          *code = static_cast<int32_t>(v);
        } else if (!s.skip(t)) {
          return false;
        }
      }
    } else if (!r.skip(type)) {
      return false;
    }
  }
  return true;
}

}  // namespace pp::ttrpc
