// A strict, bounded reader for the XML that EC2 and STS answer with (libxml2 underneath): no
// DTDs, no entities beyond the predefined five, no network, limited size, depth and node
// count. The result is a plain tree of elements with their local names and text.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pp::providers::aws {

struct XmlLimits {
  size_t maxBytes = 8 << 20;
  int maxDepth = 48;
  size_t maxElements = 200000;
};

struct XmlElement {
  std::string name;  // local name, namespace prefix dropped
  std::string text;  // the element's own text and CDATA, concatenated
  std::vector<XmlElement> children;

  // First child element called `name`; nullptr when there is none.
  const XmlElement* child(std::string_view name) const;
  // Follows a chain of first children; nullptr when a link is missing.
  const XmlElement* find(std::initializer_list<std::string_view> path) const;
  // Text of the first child called `name`; "" when there is none.
  std::string childText(std::string_view name) const;
  // All children called `name` (EC2 lists: <xSet><item>...</item></xSet>).
  std::vector<const XmlElement*> all(std::string_view name) const;
};

// Parses a whole document; INVALID_ARGUMENT (or RESOURCE_EXHAUSTED over the limits) with the
// reason when it is not well-formed or uses features we refuse.
Result<XmlElement> parseXml(std::string_view document, const XmlLimits& limits = {});

}  // namespace pp::providers::aws
