// Prints "<name> <hex>" for every golden message, as encoded by the generated C++ classes.
// python_interop.py compares these bytes with python3-protobuf's encoding of the same messages.
#include <iostream>

#include "golden_messages.h"

int main() {
  for (const auto& golden : pp::prototest::goldenMessages()) {
    std::string bytes;
    if (!golden.message->SerializeToString(&bytes)) {
      std::cerr << "cannot serialize " << golden.name << "\n";
      return 1;
    }
    std::cout << golden.name << ' ' << pp::prototest::toHex(bytes) << '\n';
  }
  return 0;
}
