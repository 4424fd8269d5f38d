// The messages whose encodings the wire-compatibility tests pin down. Built once here so the
// golden-vector test and the dump tool that python_interop.py compares against use the same ones.
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <vector>

namespace pp::prototest {

struct GoldenMessage {
  std::string name;  // stable key shared with python_interop.py
  std::unique_ptr<google::protobuf::Message> message;
};

// Every golden message, in a fixed order.
std::vector<GoldenMessage> goldenMessages();

// The message called `name`; throws std::out_of_range if there is none.
std::unique_ptr<google::protobuf::Message> goldenMessage(const std::string& name);

// Lower-case hex, two digits per byte, no separators.
std::string toHex(const std::string& bytes);

// Inverse of toHex; spaces are ignored so vectors can be grouped for reading.
std::string fromHex(const std::string& hex);

}  // namespace pp::prototest
