// Base64 (standard and URL alphabets, padded, as Go's base64.StdEncoding/URLEncoding) and hex.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pp::encoding {

std::string base64Encode(std::string_view data);
std::string base64UrlEncode(std::string_view data);
// Strict: rejects characters outside the alphabet and bad padding. Whitespace is not allowed.
std::optional<std::string> base64Decode(std::string_view text);
std::string hexEncode(std::string_view data);

}  // namespace pp::encoding
