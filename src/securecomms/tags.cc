// Tag parsing: `PHASE:NAME:PORT` and `PHASE:NAME:HOST|NETNS:PORT`.
#include <fmt/format.h>

#include <set>

#include "securecomms/securecomms.h"

namespace pp::securecomms {
namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool allNameChars(std::string_view s) {
  for (char c : s)
    if (!isNameChar(c)) return false;
  return true;
}

std::unexpected<Error> bad(std::string_view tag, std::string_view why) {
  return fail(Code::kInvalidArgument, fmt::format("secure comms tag '{}': {}", tag, why));
}

}  // namespace

std::string_view tagPhaseName(TagPhase phase) {
  switch (phase) {
    case TagPhase::kAttestation:
      return "ATTESTATION_PHASE";
    case TagPhase::kKubernetes:
      return "KUBERNETES_PHASE";
    case TagPhase::kBoth:
      return "BOTH_PHASES";
  }
  return "?";
}

std::string Tag::toString() const {
  if (hostOrNetns.empty()) return fmt::format("{}:{}:{}", tagPhaseName(phase), name, port);
  return fmt::format("{}:{}:{}:{}", tagPhaseName(phase), name, hostOrNetns, port);
}

Result<Tag> parseTag(std::string_view text) {
  if (text.size() > 512) return bad(text.substr(0, 64), "longer than 512 characters");
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t colon = text.find(':', start);
    fields.push_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (fields.size() != 3 && fields.size() != 4) {
    return bad(text, "want PHASE:NAME:PORT or PHASE:NAME:HOST|NETNS:PORT");
  }
  Tag tag;
  std::string_view phase = fields[0];
  if (phase == "ATTESTATION_PHASE") {
    tag.phase = TagPhase::kAttestation;
  } else if (phase == "KUBERNETES_PHASE") {
    tag.phase = TagPhase::kKubernetes;
  } else if (phase == "BOTH_PHASES") {
    tag.phase = TagPhase::kBoth;
  } else {
    return bad(text, fmt::format("phase '{}' is not ATTESTATION_PHASE, KUBERNETES_PHASE or "
                                 "BOTH_PHASES",
                                 phase));
  }
  std::string_view name = fields[1];
  if (name.empty() || name.size() > 64 || !allNameChars(name)) {
    return bad(text, "name must be 1-64 characters of A-Z a-z 0-9 _ . -");
  }
  tag.name = std::string(name);
  if (fields.size() == 4) {
    std::string_view host = fields[2];
    if (host.empty() || host.size() > 253 || !allNameChars(host)) {
      return bad(text, "host or network namespace must be 1-253 characters of A-Z a-z 0-9 _ . -");
    }
    tag.hostOrNetns = std::string(host);
  }
  std::string_view port = fields.back();
  if (port.empty() || port.size() > 5 || (port.size() > 1 && port[0] == '0')) {
    return bad(text, fmt::format("port '{}' is not a number 0-65535", port));
  }
  uint32_t value = 0;
  for (char c : port) {
    if (c < '0' || c > '9')
      return bad(text, fmt::format("port '{}' is not a number 0-65535", port));
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return bad(text, fmt::format("port '{}' is not a number 0-65535", port));
  tag.port = static_cast<uint16_t>(value);
  return tag;
}

Result<std::vector<Tag>> parseTags(std::string_view list) {
  std::vector<Tag> tags;
  std::set<std::string> names;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view item = list.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) {
      auto tag = parseTag(item);
      if (!tag) return fail(tag.error());
      if (!names.insert(tag->name).second) {
        return fail(
            Code::kInvalidArgument,
            fmt::format("secure comms tag '{}': the name {} appears twice", item, tag->name));
      }
      tags.push_back(std::move(*tag));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return tags;
}

std::string joinTags(const std::vector<Tag>& tags) {
  std::string out;
  for (const auto& t : tags) {
    if (!out.empty()) out += ',';
    out += t.toString();
  }
  return out;
}

}  // namespace pp::securecomms
