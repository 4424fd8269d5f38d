// Random values from the kernel's generator (getrandom(2)): one system call, no file to open and
// no state to seed, so it is cheap enough for a temporary file's name and safe enough for ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pp::rnd {

// Fills n bytes. getrandom(2) does not fail once the kernel's pool is initialised (early boot
// blocks, as it should); an unexpected failure aborts rather than hand out predictable bytes.
void fill(void* out, size_t n);

uint64_t u64();

// An RFC 4122 version 4 UUID in its 36-character text form, lower case.
std::string uuidV4();

}  // namespace pp::rnd
